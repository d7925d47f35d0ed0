"""From a composed config to a finished run.

Order matters for the user: every config value is validated and every plugin name
resolved before any data is fetched or any weight drawn, so a typo fails in a second
with one line, not after a download.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from harness import config as config_mod
from harness.errors import ConfigError
from harness.model import build_layers, build_loss
from harness.plugins import PluginManager, load_plugins
from harness.registry import Registry
from harness.training import checkpoint
from harness.training.loop import Trainer
from harness.training.run import Run

log = logging.getLogger("harness")

# Keys that say where or how a run is recorded, not what it computes.
NOT_HASHED = ("paths.", "resume", "progress", "tracking.")


@dataclass
class Parts:
    """Everything a run needs, built and validated, before data is loaded."""

    settings: config_mod.HarnessConfig
    engine: object
    layers: list
    loss: object
    optimizer: object
    schedule: object
    dataset: object


def _options(section: dict) -> dict:
    return {k: v for k, v in section.items() if k != "name"}


def build_parts(cfg: DictConfig, registry: Registry) -> Parts:
    """Validate ``cfg`` and build every named part through the registry."""
    s = config_mod.validate(cfg)
    engine_name = s.engine["name"]
    engine = registry.create("engine", engine_name, _options(s.engine), section="engine")
    layers = build_layers(registry, engine_name, s.model.layers)
    loss_name, loss_options = s.model.loss_spec()
    loss = build_loss(registry, engine_name, loss_name, loss_options)
    optimizer = registry.create("optimizer", s.optimizer["name"], _options(s.optimizer), section="optimizer")
    schedule = registry.create("schedule", s.schedule["name"], _options(s.schedule), section="schedule")
    dataset = registry.create("dataset", s.data["name"], _options(s.data), section="data")
    registry.pm.hook.harness_validate_config(config=s)
    config_mod.check_sections(s)
    return Parts(s, engine, layers, loss, optimizer, schedule, dataset)


def config_hash(params: dict[str, str]) -> str:
    """Identity of what a config computes: same hash, same numbers (for a given seed)."""
    kept = {k: v for k, v in params.items() if not k.startswith(NOT_HASHED)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def checkpoint_config(cfg: DictConfig, pm: PluginManager) -> tuple[DictConfig, Path, bool]:
    """For ``resume=REF``: the stopped run's own config, its checkpoint directory, and
    whether that directory is a temporary download (to delete once read)."""
    reference = str(cfg.resume)
    candidate = Path(reference).expanduser()
    downloaded = False
    if candidate.is_dir():
        # The run folder itself (outputs/<name>/<time>) holds its checkpoint in checkpoint/.
        nested = candidate / "checkpoint"
        directory = nested if nested.is_dir() and not (candidate / checkpoint.MANIFEST).is_file() else candidate
    else:
        directory = pm.hook.harness_locate_checkpoint(reference=reference, config=cfg)
        if directory is None:
            raise ConfigError(f"resume must be a checkpoint directory or a tracked run id, got {reference!r} (not found)")
        directory, downloaded = Path(directory), True
    manifest = checkpoint.read_manifest(directory)
    saved = OmegaConf.create(manifest["config_yaml"])
    saved.paths = cfg.paths  # write new outputs next to this invocation's
    saved.resume = reference
    return saved, directory, downloaded


def run_experiment(cfg: DictConfig, *, pm: PluginManager | None = None, run_name: str | None = None,
                   sweep: dict | None = None) -> Run:
    """Train the experiment ``cfg`` describes and return its finished :class:`Run`."""
    pm = pm or load_plugins()
    registry = Registry(pm)
    resume_dir, downloaded = None, False
    if cfg.get("resume"):
        cfg, resume_dir, downloaded = checkpoint_config(cfg, pm)
    parts = build_parts(cfg, registry)
    s = parts.settings
    params = config_mod.flatten(cfg)
    run = Run(
        name=run_name or s.name,
        config=s,
        config_yaml=config_mod.to_yaml(cfg),
        params=params,
        config_hash=config_hash(params),
        sweep=sweep,
        project_dir=Path(s.paths.project_dir).resolve(),
        output_dir=Path(s.paths.output_dir).resolve(),
        engine=parts.engine,
        registry=registry,
        hook=pm.hook,
    )
    if sweep is not None and resume_dir is None:
        finished = pm.hook.harness_find_finished(run=run)
        if finished is not None:
            log.info("skipping: an identical run already finished (%s)", finished.get("run_id", "recorded"))
            run.summary.update(finished)
            run.state["skipped"] = True
            return run

    dtype = np.dtype(s.dtype)
    init_seed, shuffle_seed, data_seed = np.random.SeedSequence(s.seed).spawn(3)
    model = parts.engine.build_model(
        parts.layers, parts.loss, input_dim=parts.dataset.input_dim,
        rng=np.random.default_rng(init_seed), dtype=dtype,
    )
    if model.output_dim != parts.dataset.num_classes:
        raise ConfigError(
            f"model.layers: the last layer gives {model.output_dim} outputs but data {s.data['name']!r} "
            f"has {parts.dataset.num_classes} classes; set the last dense layer's units to {parts.dataset.num_classes}"
        )
    splits = parts.dataset.load().astype(dtype)
    _check_splits(splits, s.data["name"])
    trainer = Trainer(
        run, model, parts.optimizer, parts.schedule, splits, pm.hook,
        shuffle_rng=np.random.default_rng(shuffle_seed), data_rng=np.random.default_rng(data_seed),
    )
    if resume_dir is not None:
        run.ids.update(checkpoint.read_manifest(resume_dir).get("ids", {}))
        trainer.resume(resume_dir)
        if downloaded:
            shutil.rmtree(resume_dir.parent, ignore_errors=True)
    return trainer.fit()


def _check_splits(splits, name: str) -> None:
    """Training needs examples to learn from, to select on and to report on."""
    for split, size in splits.sizes().items():
        if size == 0:
            raise ConfigError(
                f"data: dataset {name!r} gives an empty {split} split; each of train, val and test needs at "
                f"least one example (check data.val_size / data.train_size / the split fractions)"
            )

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
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from harness import config as config_mod
from harness import jobs, runlock
from harness.contracts import Dataset, Engine, Model, Optimizer, Schedule
from harness.errors import ConfigError
from harness.memory import check_parameter_memory
from harness.model import build_layers, build_loss
from harness.plugins import PluginManager, activated, get_plugin_manager, get_registry
from harness.records import RunInfo, RunResult, Splits, SweepJob
from harness.registry import Registry
from harness.threads import describe_blas, limited, threads_for
from harness.training import checkpoint
from harness.training.batching import steps_per_epoch
from harness.training.interrupts import InterruptGuard, StopRequested
from harness.training.loop import Trainer
from harness.training.views import image_side

log = logging.getLogger("harness")


@dataclass
class Parts:
    """Everything a run needs, built and validated, before data is loaded."""

    settings: config_mod.HarnessConfig
    engine: Engine
    layers: list[Any]
    loss: Any
    optimizer: Optimizer
    schedule: Schedule
    dataset: Dataset


@dataclass
class Outcome:
    """A run as the code that ran it sees it afterwards: its description, its result,
    and the trained model (``None`` for a sweep job skipped as already finished)."""

    run: RunInfo
    result: RunResult
    model: Model | None

    @property
    def summary(self) -> dict[str, float]:
        return self.result.summary

    @property
    def history(self) -> list[dict[str, float]]:
        return self.result.history


def _options(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k != "name"}


def build_parts(cfg: DictConfig, registry: Registry) -> Parts:
    """Validate ``cfg`` and build every named part through the registry."""
    s = config_mod.validate(cfg)
    engine_name = s.engine["name"]
    engine = registry.create("engine", engine_name, _options(s.engine), section="engine")
    dataset = registry.create("dataset", s.data["name"], _options(s.data), section="data")
    layers = build_layers(registry, engine_name, s.model.layers, num_classes=dataset.num_classes)
    if s.model.tta_shift:
        image_side(dataset.input_dim, s.model.tta_shift)  # a one-line error before training, not after epoch 1
    loss_name, loss_options = s.model.loss_spec()
    loss = build_loss(registry, engine_name, loss_name, loss_options)
    optimizer = registry.create("optimizer", s.optimizer["name"], _options(s.optimizer), section="optimizer")
    schedule = registry.create("schedule", s.schedule["name"], _options(s.schedule), section="schedule")
    registry.pm.hook.harness_validate_config(config=s)
    config_mod.check_sections(s, registry.declared_sections())
    return Parts(s, engine, layers, loss, optimizer, schedule, dataset)


def run_params(cfg: DictConfig) -> dict[str, str]:
    """The flattened config a tracker records: what the run computes, not where it writes."""
    return {k: v for k, v in config_mod.flatten(cfg).items() if not k.startswith(config_mod.NOT_PARAMS)}


def config_hash(params: dict[str, str], unhashed: tuple[str, ...] = ()) -> str:
    """Identity of what a config computes: same hash, same numbers (for a given seed).

    ``unhashed`` names sections that only say how a run is recorded or shown
    (declared by their plugins with ``hashed=False``)."""
    prefixes = tuple(f"{name}." for name in unhashed) + unhashed
    kept = {k: v for k, v in params.items() if not k.startswith(prefixes)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def checkpoint_config(cfg: DictConfig, pm: PluginManager) -> tuple[DictConfig, Path, bool]:
    """For ``resume=REF``: the stopped run's own config, its checkpoint directory, and
    whether that directory is a temporary download (to delete once read: see
    :func:`discard_download`; deleted here already when this raises). A local run folder
    is claimed first (:mod:`harness.runlock`): if the run that writes it still trains,
    resuming it is refused before anything is read; the caller releases it."""
    reference = check_resume_reference(cfg)
    candidate = Path(reference).expanduser()
    downloaded = False
    if candidate.is_dir():
        # The run folder itself (outputs/<name>/<time>) holds its checkpoint in checkpoint/.
        nested = candidate / "checkpoint"
        directory = nested if nested.is_dir() and not (candidate / checkpoint.MANIFEST).is_file() else candidate
        try:
            runlock.claim(source_folder(directory), what="resume: run folder")
        except OSError as exc:  # a read-only copy of a run: nobody trains in it
            log.debug("resume: cannot lock %s: %s", source_folder(directory), exc)
    else:
        located = pm.hook.harness_locate_checkpoint(reference=reference, config=cfg)
        if located is None:
            raise ConfigError(f"resume must be a checkpoint directory or a tracked run id, got {reference!r} (not found)")
        directory, downloaded = Path(located), True
    try:
        manifest = checkpoint.read_manifest(directory)
        saved = OmegaConf.create(manifest["config_yaml"])
    except BaseException:
        if downloaded:
            discard_download(directory)
        else:
            runlock.release(source_folder(directory))
        raise
    saved.paths = cfg.paths  # write new outputs next to this invocation's
    saved.resume = reference
    return saved, directory, downloaded


def check_resume_reference(cfg: DictConfig) -> str:
    """``resume=`` alone is refused before anything is written: ``Path("")`` is the
    current folder, not a run."""
    reference = str(cfg.resume)
    if not reference.strip():
        raise ConfigError("resume= needs a value: a tracked run id, a run folder or its checkpoint/ folder "
                          "(leave resume out to start a new run)")
    return reference


def discard_download(directory: Path) -> None:
    """Delete the temporary folder a tracker downloaded a checkpoint into (its parent)."""
    shutil.rmtree(directory.parent, ignore_errors=True)


def source_folder(directory: Path) -> Path:
    """The run folder a local checkpoint belongs to (``<run>/checkpoint`` -> ``<run>``):
    where the run that wrote it keeps its lock."""
    return directory.parent if directory.name == "checkpoint" else directory


def run_experiment(cfg: DictConfig, *, pm: PluginManager | None = None, run_name: str | None = None,
                   sweep: SweepJob | None = None) -> Outcome:
    """Train the experiment ``cfg`` describes and return its :class:`Outcome`.

    ``pm`` (the process's plugin manager by default) is the one every plugin sees
    through :func:`harness.get_plugin_manager` while the run goes on. A SIGINT or
    SIGTERM before the run starts (while data loads) raises :class:`StopRequested` at
    once, with nothing recorded; once it runs, the run's own guard takes over."""
    pm = pm or get_plugin_manager()
    guard = InterruptGuard(when="before the run started")
    with activated(pm), guard:
        outcome = _run(cfg, pm, run_name, sweep, guard)
    if guard.requested is not None:  # it came after the run was recorded: stop after it
        raise StopRequested(guard.requested, finished_run=outcome.result)
    return outcome


def _run(cfg: DictConfig, pm: PluginManager, run_name: str | None, sweep: SweepJob | None,
         guard: InterruptGuard) -> Outcome:
    registry = get_registry(pm)
    _warn_failed_plugins(pm)
    if cfg.get("resume") is not None:
        check_resume_reference(cfg)
    own = _claim_output_dir(Path(str(cfg.paths.output_dir)))
    try:
        if sweep is not None and (signum := jobs.stop_requested(sweep.dir)) is not None:
            raise StopRequested(signum, when="before the run started (its sweep is stopping)")
        resume_dir, downloaded = None, False
        if cfg.get("resume") is not None:
            cfg, resume_dir, downloaded = checkpoint_config(cfg, pm)
        try:
            return _prepare_and_train(cfg, pm, registry, run_name, sweep, guard, resume_dir, downloaded)
        finally:
            if resume_dir is not None and downloaded:
                discard_download(resume_dir)
            elif resume_dir is not None:
                runlock.release(source_folder(resume_dir))
    finally:
        if own is not None:
            runlock.release(own)


def _claim_output_dir(folder: Path) -> Path | None:
    """Own the run's folder while it trains (a resume of it is refused meanwhile, a sweep's
    launcher finds its jobs' processes). Two runs started in the same second with the same
    name share a folder (Hydra names it by the second): the second one goes on unowned."""
    try:
        runlock.claim(folder)
    except runlock.FolderInUse as exc:
        log.warning("%s; this run writes there too", exc)
        return None
    except OSError as exc:
        log.warning("cannot write the lock of run folder %s: %s", folder, exc)
        return None
    return folder


def _prepare_and_train(cfg: DictConfig, pm: PluginManager, registry: Registry, run_name: str | None,
                       sweep: SweepJob | None, guard: InterruptGuard, resume_dir: Path | None,
                       downloaded: bool) -> Outcome:
    parts = build_parts(cfg, registry)
    s = parts.settings
    dtype = np.dtype(s.dtype)
    check_parameter_memory(s.model.layers, parts.dataset.input_dim, dtype)
    init_seed, shuffle_seed, data_seed = np.random.SeedSequence(s.seed).spawn(3)
    model = parts.engine.build_model(
        parts.layers, parts.loss, input_dim=parts.dataset.input_dim,
        rng=np.random.default_rng(init_seed), dtype=dtype,
    )
    if model.output_dim != parts.dataset.num_classes:
        raise ConfigError(
            f"model.layers: the last layer gives {model.output_dim} outputs but data {s.data['name']!r} "
            f"has {parts.dataset.num_classes} classes; set the last dense layer's units to {parts.dataset.num_classes} "
            f"(or to auto: the dataset's class count)"
        )
    splits = parts.dataset.load().astype(dtype)
    _check_splits(splits, s.data["name"])
    params = run_params(cfg)
    n_train = len(splits.train_y)
    _check_batch_size(s.gd, n_train, s.data["name"])
    batch_size = s.gd.batch_size_for(n_train)
    run = RunInfo(
        name=run_name or s.name,
        config=s,
        config_yaml=config_mod.to_yaml(cfg),
        params=params,
        config_hash=config_hash(params, registry.unhashed_sections()),
        project_dir=Path(s.paths.project_dir).resolve(),
        output_dir=Path(s.paths.output_dir).resolve(),
        engine_name=s.engine["name"],
        sweep=sweep,
        resumed=resume_dir is not None,
        sizes=splits.sizes(),
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch(n_train, batch_size),
        log_metrics_hook=pm.hook.harness_log_metrics,
    )
    result = RunResult()
    if sweep is not None and resume_dir is None:
        finished = pm.hook.harness_find_finished(run=run)
        if finished is not None:
            log.info("skipping: an identical run already finished (%s)", finished.run_id or "recorded")
            result.status, result.skipped = "FINISHED", True
            result.summary.update(finished.summary)
            result.history = list(finished.history)
            result.diverged_step = finished.diverged_step  # a recorded divergence stays one (a search tells it failed)
            return Outcome(run, result, None)
    trainer = Trainer(
        run, result, model, parts.engine, parts.optimizer, parts.schedule, splits, pm,
        shuffle_rng=np.random.default_rng(shuffle_seed), data_rng=np.random.default_rng(data_seed),
    )
    if resume_dir is not None:
        result.ids.update(checkpoint.read_manifest(resume_dir).get("ids", {}))
        trainer.resume(resume_dir)
        if downloaded:
            discard_download(resume_dir)  # read: not kept for the hours the run may take
    with limited(threads_for(s.training.threads, sweep)) as threads:
        log.info("BLAS: %s", describe_blas())
        if threads is not None:  # the count in force, whether set here or by the library
            result.summary["blas_threads"] = threads
        try:
            trainer.fit()
        finally:
            guard.closing = True  # the run is over (recorded): a signal now stops the process after it
    return Outcome(run, result, model)


def _warn_failed_plugins(pm: PluginManager) -> None:
    """A plugin that failed to import is named once per run: its components, options
    and hooks are missing, which a run that does not need them would not otherwise show."""
    for failure in pm.failures.values():
        log.warning("plugin %s failed to load and is not available: %s", failure.name, failure.error)


def _check_batch_size(gd: config_mod.GDConfig, n_train: int, name: str) -> None:
    """A batch larger than the training set would be a smaller batch in disguise (the
    run's record would name a batch size it never used): refused, naming both numbers."""
    if gd.mode == "minibatch" and gd.batch_size is not None and gd.batch_size > n_train:
        raise ConfigError(
            f"gd.batch_size={gd.batch_size} is more than the {n_train} training example{'s' * (n_train != 1)} "
            f"of data {name!r}; "
            f"use gd.batch_size <= {n_train}, gd=batch (every example in every step) or more training data "
            f"(data.train_size / data.val_size)"
        )


def _check_splits(splits: Splits, name: str) -> None:
    """Training needs examples to learn from, to select on and to report on."""
    for split, size in splits.sizes().items():
        if size == 0:
            raise ConfigError(
                f"data: dataset {name!r} gives an empty {split} split; each of train, val and test needs at "
                f"least one example (check data.val_size / data.train_size / the split fractions)"
            )

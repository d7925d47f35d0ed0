"""The typed schema of a composed experiment, and its validation.

Hydra composes ``conf/``; :func:`validate` merges the result into the structured
schema below (types: OmegaConf) and then runs each section's ``check`` (ranges: ours,
not ``__post_init__``, which OmegaConf also calls on defaults) before anything is built, so ``gd.batch_size=0`` or ``training.epochs=-1``
stops the run at once with one line naming the field and the accepted range. Sections
that belong to plugins (``optimizer``, ``schedule``, ``data``, ``engine``, ``tracking``,
the entries of ``model.layers``) are free-form here: the plugin's factory validates them
when the registry builds it.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness import validation as v
from harness.errors import ConfigError

log = logging.getLogger("harness.config")

GD_MODES = ("batch", "sgd", "minibatch")
DTYPES = ("float32", "float64")
ON_DIVERGENCE = ("fail", "record")
# Keys that say where a run writes or what it continues, not what it computes: left out
# of the params a tracker records and of the config hash (plugins add their own
# sections through ``harness_register_config_sections(..., hashed=False)``).
NOT_PARAMS = ("paths.", "resume")


@dataclass
class GDConfig:
    """Batching mode of gradient descent: all samples, one sample, or mini-batches."""

    mode: str = "minibatch"
    batch_size: int | None = 128
    shuffle: bool = True

    def check(self) -> None:
        v.one_of("gd.mode", self.mode, GD_MODES)
        if self.mode == "minibatch":
            v.integer("gd.batch_size", self.batch_size, low=1)
        elif self.mode == "sgd" and self.batch_size not in (None, 1):
            v.fail("gd.batch_size", "1 or null with gd.mode=sgd (one example per step; for batches use gd=minibatch)", self.batch_size)
        elif self.mode == "batch" and self.batch_size is not None:
            v.fail("gd.batch_size", "null with gd.mode=batch (every example in every step; for batches use gd=minibatch)", self.batch_size)

    def batch_size_for(self, n_train: int) -> int:
        if self.mode == "batch" or self.batch_size is None:
            return n_train
        if self.mode == "sgd":
            return 1
        return min(self.batch_size, n_train)


@dataclass
class TrainingConfig:
    epochs: int = 20
    restore_best: bool = True
    early_stopping_patience: int | None = None
    eval_batch_size: int = 5000
    max_seconds: float | None = None
    checkpoint_every: int = 1
    val_every: int = 1
    on_divergence: str = "fail"
    threads: int | None = None

    def check(self) -> None:
        v.integer("training.epochs", self.epochs, low=1)
        v.optional(v.integer, "training.threads", self.threads, low=1)
        v.one_of("training.on_divergence", self.on_divergence, ON_DIVERGENCE)
        v.optional(v.number, "training.max_seconds", self.max_seconds, low=0, low_open=True)
        v.integer("training.checkpoint_every", self.checkpoint_every, low=0)
        v.integer("training.val_every", self.val_every, low=1)
        v.optional(v.integer, "training.early_stopping_patience", self.early_stopping_patience, low=1)
        v.integer("training.eval_batch_size", self.eval_batch_size, low=1)


@dataclass
class ModelConfig:
    layers: list[Any] = field(default_factory=list)
    loss: Any = "softmax_cross_entropy"
    tta_shift: int = 0   # test-time augmentation (harness.training.views): 0 off, k > 0 five views moved k pixels

    def check(self) -> None:
        v.integer("model.tta_shift", self.tta_shift, low=0)
        if not self.layers:
            v.fail("model.layers", "a non-empty list of {type: ..., ...} entries", self.layers)
        for i, spec in enumerate(self.layers):
            if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
                v.fail(f"model.layers[{i}]", "a mapping with a 'type' name", spec)
        if not (isinstance(self.loss, str) or (isinstance(self.loss, dict) and isinstance(self.loss.get("type"), str))):
            v.fail("model.loss", "a loss name or a mapping with a 'type' name", self.loss)

    def loss_spec(self) -> tuple[str, dict]:
        if isinstance(self.loss, str):
            return self.loss, {}
        options = dict(self.loss)
        return options.pop("type"), options


@dataclass
class PathsConfig:
    project_dir: str = "."
    output_dir: str = "."


@dataclass
class HarnessConfig:
    name: str = "harness"
    seed: int = 0
    dtype: str = "float32"
    engine: dict[str, Any] = field(default_factory=lambda: {"name": "backprop"})
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=lambda: {"name": "constant"})
    gd: GDConfig = field(default_factory=GDConfig)
    data: dict[str, Any] = field(default_factory=dict)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    resume: str | None = None
    # Top-level sections the schema does not know, kept for the plugins they belong to
    # (``tracking``, ``reports``, ``diagnostics``): see :meth:`section`.
    plugins: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """A plugin's own top-level config section, or ``{}`` when the config has none.

        Reading a section claims it: see :func:`check_sections`.
        """
        self.__dict__.setdefault("_sections_read", set()).add(name)
        return dict(self.plugins.get(name) or {})

    def unread_sections(self) -> list[str]:
        return sorted(set(self.plugins) - self.__dict__.get("_sections_read", set()))

    def check(self) -> None:
        self.model.check()
        self.gd.check()
        self.training.check()
        v.integer("seed", self.seed, low=0, high=2**32 - 1)
        v.one_of("dtype", self.dtype, DTYPES)
        if not isinstance(self.name, str) or not is_safe_name(self.name):
            v.fail("name", NAME_REQUIREMENT, self.name)
        for section, options in (("engine", self.engine), ("optimizer", self.optimizer), ("schedule", self.schedule),
                                 ("data", self.data)):
            if not isinstance(options.get("name"), str):
                v.fail(f"{section}.name", "the name of a registered plugin entry", options.get("name"))


NAME_REQUIREMENT = "a name without path separators (it names folders and experiments)"


def is_safe_name(name: str) -> bool:
    """A name that stays one folder when a path is built from it."""
    return bool(name.strip()) and not any(c in name for c in "/\\\0") and name not in (".", "..")


def safe_name(name: Any) -> str:
    """The ``harness.safe_name`` resolver: ``outputs/${harness.safe_name:${name}}/...``.

    Hydra creates the run folder from ``hydra.run.dir`` before any harness code runs, so
    ``name=../../x`` would create it outside the launch directory before the config is
    validated. Through this resolver the folder is always one component below
    ``outputs/``: a name that is not a name becomes a harmless folder name (separators
    replaced by ``_``), and the config's validation then refuses the name in one line."""
    text = str(name)
    if is_safe_name(text):
        return text
    folder = "".join("_" if c in "/\\\0" else c for c in text)
    return folder if is_safe_name(folder) else "_" + folder


def register_resolvers() -> None:
    """Make ``${harness.safe_name:...}`` resolvable (idempotent; done on import)."""
    if not OmegaConf.has_resolver("harness.safe_name"):
        OmegaConf.register_new_resolver("harness.safe_name", safe_name)


register_resolvers()


def validate(cfg: DictConfig) -> HarnessConfig:
    """Check a composed config against the schema; one-line :class:`ConfigError` if bad."""
    try:
        plain = _strip_hydra(_container(cfg))
        known = {f.name for f in fields(HarnessConfig)} - {"plugins"}
        extras = {k: val for k, val in plain.items() if k not in known}
        for key, value in extras.items():
            if not isinstance(value, dict):
                raise ConfigError(f"unknown config key {key!r}; top-level keys are {', '.join(sorted(known))} or plugin sections (mappings)")
        plain = {k: val for k, val in plain.items() if k in known}
        plain["plugins"] = extras
        merged = OmegaConf.merge(OmegaConf.structured(HarnessConfig), plain)
        settings = OmegaConf.to_object(merged)
        assert isinstance(settings, HarnessConfig)
        # A section other values interpolate (``${deep.width}``) is in use even if no plugin reads it.
        settings.__dict__["_sections_read"] = _interpolated_roots(cfg) & set(extras)
    except OmegaConfBaseException as exc:
        raise ConfigError(_omegaconf_message(exc)) from None
    settings.check()
    return settings


_INTERPOLATION_ROOT = re.compile(r"\$\{(?:[\w.]+:)?\s*([A-Za-z_]\w*)")


def _interpolated_roots(cfg: DictConfig) -> set[str]:
    """Top-level keys named by the config's interpolations (``${deep.width}``,
    ``${oc.select:deep.init,he}``)."""
    found: set[str] = set()
    pending = [OmegaConf.to_container(cfg, resolve=False)]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and "${" in item:
            found.update(_INTERPOLATION_ROOT.findall(item))
    return found


def check_sections(settings: HarnessConfig, declared: Mapping[str, object] | None = None) -> None:
    """After every plugin validated its section: a section nobody declared or read is a
    typo or a plugin that is not loaded.

    ``+trainig.epochs=5`` must not train the default 20 epochs in silence: a name close
    to a known key is refused with a suggestion; any other unread section is reported
    as ignored (its plugin may be switched off with ``HARNESS_LOAD_PLUGINS``).
    """
    declared = declared or {}
    unread = [name for name in settings.unread_sections() if name not in declared]
    schema = {f.name for f in fields(HarnessConfig)} - {"plugins"}
    known = sorted(schema | set(declared) | (set(settings.plugins) - set(unread)))
    for name in unread:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if close:
            raise ConfigError(f"unknown config section {name!r}: did you mean {close[0]!r}? (no loaded plugin reads {name!r})")
        log.warning("config section %r is read by no loaded plugin, so it is ignored", name)


def _strip_hydra(plain: dict) -> dict:
    return {k: val for k, val in plain.items() if k != "hydra"}


def _omegaconf_message(exc: OmegaConfBaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    key = getattr(exc, "full_key", None)
    return f"{key}: {first}" if key else first


def _container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain, resolved Python containers."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items()}


def to_yaml(cfg: DictConfig) -> str:
    """The composed config as YAML, resolved, without Hydra's own section."""
    return OmegaConf.to_yaml(OmegaConf.create(_strip_hydra(_container(cfg))))


def flatten(cfg: DictConfig | ListConfig | dict[str, Any] | list[Any], prefix: str = "") -> dict[str, str]:
    """``{"optimizer.lr": "0.05", "model.layers.0.type": "dense", ...}`` for tracking params."""
    node = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, (DictConfig, ListConfig)) else cfg
    out: dict[str, str] = {}
    items = node.items() if isinstance(node, dict) else enumerate(node or [])
    for key, value in items:
        if not prefix and key == "hydra":
            continue
        name = f"{prefix}{key!s}"
        if isinstance(value, (dict, list)) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out

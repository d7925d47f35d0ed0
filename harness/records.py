"""The records the core hands to plugins: data splits, a run, its result, a sweep.

A run is described once, before its first step, by a frozen :class:`RunInfo` (what it
computes and where it writes); what it produces accumulates in a :class:`RunResult`.
Hooks receive both; neither is a mailbox. A plugin that keeps something per run (a
tracking client, a progress bar) keeps it itself, keyed by the ``run`` object::

    _bars: weakref.WeakKeyDictionary[RunInfo, Bar] = weakref.WeakKeyDictionary()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from harness.config import HarnessConfig


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DatasetProvenance:
    """Where one split's examples come from, for trackers that record data inputs.

    ``digest`` identifies the exact examples (derived from pinned file checksums and
    the split's parameters, not by hashing arrays at run time); ``source`` says where
    they were read from (a cache path, a URL, ``synthetic:moons?seed=0``).
    """

    name: str
    digest: str
    source: str


@dataclass
class Splits:
    """Features as ``(n, features)`` arrays, labels as integer class indices."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    # ``augment(batch, rng) -> batch``: a random transformation of training batches only.
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
    # "train" / "val" / "test" -> where those examples come from (optional).
    provenance: Mapping[str, DatasetProvenance] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_y), "val": len(self.val_y), "test": len(self.test_y)}

    def astype(self, dtype: Any) -> Splits:
        """The same splits with features in ``dtype`` (labels untouched)."""
        return Splits(
            self.train_x.astype(dtype, copy=False), self.train_y,
            self.val_x.astype(dtype, copy=False), self.val_y,
            self.test_x.astype(dtype, copy=False), self.test_y, self.augment, self.provenance,
        )


def holdout(x: np.ndarray, y: np.ndarray, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off ``val_size`` examples chosen by a seeded permutation.

    The permutation depends only on ``seed`` and ``len(y)``, so every run of a sweep
    validates on the same examples.
    """
    order = np.random.default_rng(seed).permutation(len(y))
    val_idx, train_idx = np.sort(order[:val_size]), np.sort(order[val_size:])
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class SweepJob:
    """A run's place in a multirun sweep."""

    dir: Path                  # the sweep's folder (shared by its jobs)
    job: int                   # Hydra's job number
    overrides: tuple[str, ...]  # this job's overrides, as typed or generated
    workers: int = 1           # jobs the launcher runs at once on this machine (joblib's n_jobs)


@dataclass(frozen=True, eq=False)
class RunInfo:
    """What a run computes and where it writes; fixed before its first step.

    Hashable by identity, so plugins can key their own per-run objects by it.
    """

    name: str
    config: HarnessConfig          # validated; plugin sections through config.section(name)
    config_yaml: str               # the composed config, resolved, as YAML
    params: Mapping[str, str]      # the flattened config without per-run paths (what to compare)
    config_hash: str               # identity of what the config computes (same hash, same numbers)
    project_dir: Path              # where the command was launched (stores default here)
    output_dir: Path               # this run's own folder
    engine_name: str
    sweep: SweepJob | None = None
    resumed: bool = False
    sizes: Mapping[str, int] = field(default_factory=dict)  # effective train / val / test sizes
    batch_size: int = 0            # effective examples per step
    steps_per_epoch: int = 0
    log_metrics_hook: Callable[..., Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "sizes", MappingProxyType(dict(self.sizes)))

    def log_metrics(self, records: list[tuple[int, dict[str, float]]]) -> None:
        """Record extra ``(step, {name: value})`` metrics with whatever tracks this run
        (the ``harness_log_metrics`` hook), without knowing which tracker that is."""
        if self.log_metrics_hook is not None and records:
            self.log_metrics_hook(run=self, records=records)


@dataclass
class RunResult:
    """What a run produced; filled in as it goes, complete at ``harness_run_end``."""

    status: str = "RUNNING"        # RUNNING, then FINISHED, FAILED or KILLED
    error: BaseException | None = None
    history: list[dict[str, float]] = field(default_factory=list)  # one row of metrics per epoch
    summary: dict[str, float] = field(default_factory=dict)  # test_accuracy, train_seconds, ...
    # Identifiers plugins need again when the run is resumed (a tracking run id); saved in checkpoints.
    ids: dict[str, str] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)  # files plugins produced (harness_run_artifacts)
    test_predictions: np.ndarray | None = None  # class index per test example, once tested
    checkpoint_dir: Path | None = None        # the last checkpoint written
    stopped_by: str | None = None             # why training ended before its last epoch
    diverged_step: int | None = None          # the step whose loss was not finite (on_divergence=record)
    skipped: bool = False                     # an identical run already finished (sweep re-run)

    @property
    def diverged(self) -> bool:
        return self.diverged_step is not None


# ------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class SweepInfo:
    """A multirun sweep, seen from the launching process."""

    dir: Path                      # the sweep's folder; jobs write in sub-folders
    name: str                      # the experiment's name (``config.name``)
    overrides: tuple[str, ...]     # the command line's task overrides
    swept: tuple[str, ...]         # the config keys the sweep varies
    config: Any = field(repr=False, default=None)  # Hydra's sweep config (DictConfig)
    # At sweep end: tags a sweeper or launcher left for the sweep's record
    # (``<summary_dir>/tags.json``: the best trial of a search, say).
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def summary_dir(self) -> Path:
        """Where a sweeper or launcher leaves files (and ``tags.json``) for the sweep's record."""
        return self.dir / "sweep_summary"


@dataclass
class RunRecord:
    """A finished (or failed) run as summaries and comparisons see it: one job of a
    sweep, or one run read back from a tracking store."""

    name: str
    status: str
    params: Mapping[str, str] = field(default_factory=dict)
    summary: Mapping[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    dir: Path | None = None        # the run's output folder, when on this machine
    error: str = ""
    run_id: str = ""               # the tracker's id, when read from a store
    diverged_step: int | None = None  # diverged there, recorded as its result (on_divergence=record)
    tags: Mapping[str, str] = field(default_factory=dict)  # a tracker's tags, when read from a store

    @property
    def outcome(self) -> str:
        """The status, or ``"diverged"`` for a run that finished by diverging."""
        return "diverged" if self.diverged_step is not None and self.status == "FINISHED" else self.status

"""The record of one training run, handed to every run-event hook."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import HarnessConfig


@dataclass
class Run:
    """What plugins may read (and, in ``state``, keep) while a run goes on."""

    name: str
    config: HarnessConfig
    config_yaml: str
    params: dict[str, str]
    project_dir: Path
    output_dir: Path
    config_hash: str = ""
    sweep: dict[str, Any] | None = None  # {"dir": ..., "job": n, "overrides": [...]} in a multirun
    model: Any = None
    splits: Any = None
    sizes: dict[str, int] = field(default_factory=dict)
    batch_size: int = 0
    steps_per_epoch: int = 0
    lr: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)
    resumed: bool = False
    # Identifiers plugins need again when the run is resumed (a tracking run id); saved in checkpoints.
    ids: dict[str, str] = field(default_factory=dict)
    # Files plugins produced for this run (plots, tables); a tracking plugin uploads them at the end.
    artifacts: list[Path] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    # The run's engine and registry (plugins that rebuild parts, like diagnostics' probe),
    # and the plugin hooks, through which ``log_metrics`` reaches the tracking plugin.
    engine: Any = None
    registry: Any = None
    hook: Any = None

    def log_metrics(self, records: list[tuple[int, dict[str, float]]]) -> None:
        """Record extra ``(step, {name: value})`` metrics with whatever tracks this run."""
        if self.hook is not None and records:
            self.hook.harness_log_metrics(run=self, records=records)

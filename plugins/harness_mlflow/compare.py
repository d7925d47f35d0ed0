"""Runs read back from the store as :class:`harness.RunRecord`, for comparisons.

``harness compare`` and the sweep re-run's skipped jobs use these; what is drawn from
them (plots, tables) is whatever plugin implements ``harness_compare_runs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness import RunRecord
from harness_mlflow.store import retrying

if TYPE_CHECKING:
    from mlflow.entities import Run

CURVES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds")


def children_of(client, parent_id: str) -> list:
    parent = retrying(client.get_run, parent_id)
    return retrying(
        client.search_runs, [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'", max_results=5000,
    )


def latest_per_config(runs) -> list:
    """One run per configuration (``harness.config_hash``): a sweep re-run after a crash
    leaves the failed attempt next to the new one, and a table should show the outcome,
    not the attempt. A FINISHED run wins, otherwise the latest one started."""
    chosen: dict[str, Run] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time or 0):
        key = run.data.tags.get("harness.config_hash", run.info.run_id)
        if key not in chosen or chosen[key].info.status != "FINISHED":
            chosen[key] = run
    return list(chosen.values())


def history_of(client, run) -> list[dict[str, float]]:
    """Per-epoch metrics of a run, rebuilt from the store's metric histories."""
    by_step: dict[int, dict[str, float]] = {}
    for name in CURVES:
        if name in run.data.metrics:
            for point in retrying(client.get_metric_history, run.info.run_id, name):
                by_step.setdefault(point.step, {})[name] = point.value
    return [by_step[step] for step in sorted(by_step)]


def record_of(client, run) -> RunRecord:
    """A stored run as a record: its name, status, params, final metrics, history and folder."""
    tags = run.data.tags
    folder = tags.get("harness.output_dir")
    diverged = tags.get("harness.diverged")
    return RunRecord(
        name=run.info.run_name or run.info.run_id[:8], status=run.info.status, params=dict(run.data.params),
        summary=dict(run.data.metrics), history=history_of(client, run),
        dir=Path(folder) if folder and Path(folder).is_dir() else None,
        error=tags.get("harness.error", ""), run_id=run.info.run_id,
        diverged_step=int(diverged) if diverged and diverged.isdigit() else None, tags=dict(tags),
    )

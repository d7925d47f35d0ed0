"""Sweeps side by side, from the store: a table of final metrics and validation curves.

Used for the parent run's artifacts at the end of a sweep and by ``harness compare``.
"""

from __future__ import annotations

from pathlib import Path

from harness_mlflow.store import retrying

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
    chosen: dict[str, object] = {}
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


def rows_for(runs) -> list[dict]:
    rows = []
    for run in runs:
        m = run.data.metrics
        rows.append({
            "run": run.info.run_name, "run_id": run.info.run_id, "status": run.info.status,
            "test_accuracy": m.get("test_accuracy"), "best_val_accuracy": m.get("best_val_accuracy"),
            "test_loss": m.get("test_loss"), "epochs": int(m["epochs"]) if "epochs" in m else None,
            "train_seconds": m.get("train_seconds"),
        })
    return rows


def comparison_artifacts(client, runs, folder: Path, title: str = "", metric: str = "val_accuracy") -> list[Path]:
    """``comparison.png`` (one curve per run) plus ``comparison.csv`` / ``.md`` (best first)."""
    from harness_reports import plots, tables

    curves = [(run.info.run_name, history_of(client, run)) for run in runs]
    made = [plots.compare_curves(sorted(curves), folder / "comparison.png", metric=metric, title=title)]
    made += tables.write_tables(rows_for(runs), folder)
    return made

"""Find runs left RUNNING by a process that is gone (SIGKILL, out of memory, power) and end them.

A run whose owner process is known to be dead is ended KILLED with a ``harness.error``
tag saying so. Runs started on another host cannot be checked that way; with
``older_than`` minutes, those whose last activity is older are ended too. A sweep's
parent left RUNNING follows the parent rule (:func:`harness_mlflow.sweep.parent_status`):
FINISHED if every configuration has a FINISHED run (its launcher died after the last
job), KILLED otherwise, like the sweep it stood for; re-running the sweep command resumes
it under the same parent.
"""

from __future__ import annotations

import time

from harness_mlflow.process import owner_alive
from harness_mlflow.store import retrying


def stale_runs(client, experiment_ids: list[str], older_than_minutes: float | None = None) -> list[tuple]:
    """``(run, reason)`` for every RUNNING run whose owner is gone."""
    found = []
    now_ms = time.time() * 1000
    running = retrying(client.search_runs, experiment_ids, filter_string="attributes.status = 'RUNNING'", max_results=50000)
    for run in running:
        alive = owner_alive(run.data.tags)
        if alive is False:
            found.append((run, f"process {run.data.tags.get('harness.pid')} on {run.data.tags.get('harness.host')} is gone"))
        elif alive is None and older_than_minutes is not None:
            last = max([run.info.start_time or 0] + [m.timestamp for m in _latest_metrics(client, run)])
            idle = (now_ms - last) / 60000
            if idle > older_than_minutes:
                found.append((run, f"no activity for {idle:.0f} minutes"))
    return found


ACTIVITY_METRICS = ("train_loss", "val_accuracy", "epoch_seconds")


def _latest_metrics(client, run):
    """The last point of the per-epoch metrics: when the run was last heard of."""
    keys = [k for k in ACTIVITY_METRICS if k in run.data.metrics]
    return [history[-1] for key in keys if (history := retrying(client.get_metric_history, run.info.run_id, key))]


def repair(client, experiment_ids: list[str], older_than_minutes: float | None = None, dry_run: bool = False) -> list[dict]:
    """End every stale run; return what was (or would be) done."""
    from harness_mlflow.compare import children_of
    from harness_mlflow.sweep import parent_status

    report = []
    for run, reason in stale_runs(client, experiment_ids, older_than_minutes):
        status = "KILLED"
        if run.data.tags.get("harness.sweep") == "parent":
            status = parent_status(children_of(client, run.info.run_id), unfinished="KILLED")
        report.append({"run_id": run.info.run_id, "name": run.info.run_name, "status": status, "reason": reason})
        if not dry_run:
            retrying(client.set_tag, run.info.run_id, "harness.error", f"repaired: {reason}")
            retrying(client.set_terminated, run.info.run_id, status)
    return report

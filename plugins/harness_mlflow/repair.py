"""Find runs left RUNNING by a process that is gone (SIGKILL, out of memory, power) and end them.

A run whose owner process is known to be dead is ended KILLED with a ``harness.error``
tag saying so. Runs started on another host cannot be checked that way; with
``older_than`` minutes, those whose last activity is older are ended too. A sweep's
parent left RUNNING follows the parent rule (:func:`harness_mlflow.sweep.parent_status`):
FINISHED if every configuration has a FINISHED run (its launcher died after the last
job), KILLED otherwise, like the sweep it stood for; re-running the sweep command resumes
it under the same parent.

A run whose process could not end it because the store could not be written (a full
disk) left its outcome in its folder (:mod:`harness_mlflow.unrecorded`): that run is
ended with the status kept there (whatever host it ran on: the record says its process
is done with it), its missing final metrics are logged, and the record is removed.
"""

from __future__ import annotations

import time

from harness_mlflow import unrecorded
from harness_mlflow.process import owner_alive
from harness_mlflow.store import retrying, store_failure


def stale_runs(client, experiment_ids: list[str], older_than_minutes: float | None = None) -> list[tuple]:
    """``(run, reason)`` for every RUNNING run whose owner is gone."""
    found = []
    now_ms = time.time() * 1000
    running = retrying(client.search_runs, experiment_ids, filter_string="attributes.status = 'RUNNING'", max_results=50000)
    for run in running:
        kept = unrecorded.read(run.data.tags.get("harness.output_dir"), run.info.run_id)
        if kept is not None:
            found.append((run, f"its process could not record its end ({kept[1].get('failed', 'unknown')}); kept in {kept[0]}"))
            continue
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
    """End every stale run; return what was (or would be) done (``error``: what kept a run from being ended)."""
    from mlflow.exceptions import MlflowException

    from harness_mlflow.compare import children_of
    from harness_mlflow.sweep import parent_status

    report = []
    for run, reason in stale_runs(client, experiment_ids, older_than_minutes):
        status = "KILLED"
        kept = unrecorded.read(run.data.tags.get("harness.output_dir"), run.info.run_id)
        if kept is not None:
            status = _status(kept[1].get("status"))
        elif run.data.tags.get("harness.sweep") == "parent":
            status = parent_status(children_of(client, run.info.run_id), unfinished="KILLED")
        item = {"run_id": run.info.run_id, "name": run.info.run_name, "status": status, "reason": reason}
        report.append(item)
        if dry_run:
            continue
        try:
            if kept is not None:
                _log_missing_metrics(client, run, kept[1])
            tag = "harness.repaired" if status == "FINISHED" else "harness.error"  # a finished run has no error
            retrying(client.set_tag, run.info.run_id, tag, f"repaired: {reason}")
            retrying(client.set_terminated, run.info.run_id, status)
        except MlflowException as exc:  # the store still cannot be written: say so, try the others
            item["error"] = store_failure(exc)
            continue
        if kept is not None:
            kept[0].unlink(missing_ok=True)
    return report


def _status(recorded) -> str:
    """The status a record asks for; an unfinished record (or a damaged one) means KILLED."""
    return recorded if recorded in ("FINISHED", "FAILED", "KILLED") else "KILLED"


def _log_missing_metrics(client, run, record: dict) -> None:
    """The final metrics the run's process could not log (test accuracy, training time)."""
    from mlflow.entities import Metric

    summary, step = record.get("summary"), record.get("step")
    summary = summary if isinstance(summary, dict) else {}
    step = step if isinstance(step, int) else 0
    now = int(time.time() * 1000)
    missing = [Metric(key, float(value), now, step) for key, value in summary.items()
               if key not in run.data.metrics and isinstance(value, (int, float))]
    if missing:
        retrying(client.log_batch, run.info.run_id, metrics=missing)

"""Which MLflow runs ``resume=`` may continue: stopped ones, not finished or live ones.

Resuming a FINISHED run would reopen it (a second ``test_accuracy``, the model logged
again, its end time moved); resuming a run whose process still trains it would have two
processes write one run (metrics twice at one step). Both are refused in one line,
before any data loads for ``resume=<run id>``, and at run start for ``resume=<run
folder>`` of a tracked run. The liveness test is the one ``harness runs repair`` uses.
"""

from __future__ import annotations

from harness import TrackingError
from harness_mlflow.process import live_owner


def refuse_unresumable(run) -> None:
    """Raise :class:`harness.TrackingError` if MLflow run ``run`` must not be resumed."""
    run_id, status = run.info.run_id, run.info.status
    name = f" ({run.info.run_name})" if run.info.run_name else ""
    if status == "FINISHED":
        raise TrackingError(
            f"resume: MLflow run {run_id}{name} already FINISHED; a finished run is not reopened: "
            f"start a new run (without resume=) to train it again"
        )
    owner = live_owner(run.data.tags) if status == "RUNNING" else None
    if owner is not None:
        raise TrackingError(
            f"resume: MLflow run {run_id}{name} is still running ({owner}): stop it first or wait for it to end"
        )

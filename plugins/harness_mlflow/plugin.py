"""Records each run in MLflow: params, per-epoch metrics, final test metrics, the config.

Active when ``tracking.backend`` is ``mlflow``. Uses ``MlflowClient`` with explicit run
ids rather than MLflow's global "active run", so nothing depends on process-wide state
and every run this plugin opens is terminated in ``harness_run_end``.
"""

from __future__ import annotations

import logging
import time

from harness import hookimpl
from harness_mlflow.store import Store, experiment_id, quiet_mlflow, resolve_store

log = logging.getLogger("harness.mlflow")
STATE_KEY = "mlflow"
SUMMARY_METRICS = ("test_accuracy", "test_loss", "train_seconds", "epochs", "best_epoch", "best_val_accuracy")
MAX_PARAMS_PER_CALL = 100


class TrackedRun:
    """The MLflow side of one harness run."""

    def __init__(self, client, store: Store, run_id: str):
        self.client, self.store, self.run_id = client, store, run_id

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])


def _active(run) -> bool:
    return run.config.tracking.get("backend") == "mlflow"


@hookimpl
def harness_run_start(run):
    if not _active(run):
        return
    quiet_mlflow()
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    store = resolve_store(run.config.tracking, run.project_dir, run.config.name)
    client = MlflowClient(tracking_uri=store.uri)
    exp_id = experiment_id(client, store)
    created = client.create_run(exp_id, run_name=run.name, tags={"harness.output_dir": str(run.output_dir)})
    tracked = TrackedRun(client, store, created.info.run_id)
    run.state[STATE_KEY] = tracked
    params = [Param(k, v[:6000]) for k, v in sorted(run.params.items())]
    for start in range(0, len(params), MAX_PARAMS_PER_CALL):
        client.log_batch(tracked.run_id, params=params[start:start + MAX_PARAMS_PER_CALL])
    client.log_text(tracked.run_id, run.config_yaml, "config.yaml")


@hookimpl
def harness_epoch_end(run, epoch, metrics):
    tracked = run.state.get(STATE_KEY)
    if tracked is not None:
        tracked.log_metrics(metrics, step=epoch + 1)


@hookimpl
def harness_run_end(run, status, error):
    tracked = run.state.get(STATE_KEY)
    if tracked is None:
        return
    try:
        summary = {k: run.summary[k] for k in SUMMARY_METRICS if k in run.summary}
        if summary:
            tracked.log_metrics(summary, step=len(run.history))
        if error is not None:
            reason = (str(error).splitlines() or [type(error).__name__])[0][:5000]
            tracked.client.set_tag(tracked.run_id, "harness.error", f"{type(error).__name__}: {reason}")
    finally:
        tracked.client.set_terminated(tracked.run_id, status)
    log.info("MLflow run %s (%s) in experiment %r, store %s", tracked.run_id, status, tracked.store.experiment, tracked.store.uri)
    log.info("see it with: %s", tracked.store.ui_command())

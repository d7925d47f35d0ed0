"""Records each run in MLflow: params, per-epoch metrics, final metrics, plots, the model.

Active when ``tracking.backend`` is ``mlflow``. Uses ``MlflowClient`` with explicit run
ids rather than MLflow's global "active run", so nothing depends on process-wide state
(a reused joblib worker starts clean) and every run this plugin opens is terminated in
``harness_run_end`` — FINISHED, FAILED (with the reason in ``harness.error``) or KILLED.
In a sweep each run is a child of the parent run :mod:`harness_mlflow.sweep` created.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

import harness
from harness import hookimpl
from harness.errors import TrackingError
from harness_mlflow.process import identity_tags
from harness_mlflow.store import client_for, experiment_id, resolve_store, retrying
from harness_mlflow.sweep import PARENT_TAG, harness_sweep_end, harness_sweep_start, read_sweep_file  # noqa: F401 (hooks)
from harness_mlflow.tracked import TrackedRun

log = logging.getLogger("harness.mlflow")
STATE_KEY = "mlflow"
RUN_ID_KEY = "mlflow_run_id"
SUMMARY_METRICS = ("test_accuracy", "test_loss", "train_seconds", "epochs", "best_epoch", "best_val_accuracy")
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _active(config) -> bool:
    return config.tracking.get("backend") == "mlflow"


def _store(run):
    return resolve_store(run.config.tracking, run.project_dir, run.config.name)


def child_name(run, swept: list[str]) -> str:
    """``gd=sgd optimizer.lr=0.1``: only the overrides the sweep varies."""
    overrides = run.sweep.get("overrides", []) if run.sweep else []
    keep = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    return " ".join(keep) or run.name


@hookimpl
def harness_validate_config(config):
    if not _active(config):
        return
    from harness_mlflow.store import check_reachable

    check_reachable(resolve_store(config.tracking, Path(config.paths.project_dir), config.name))


@hookimpl
def harness_run_start(run):
    if not _active(run.config):
        return
    from mlflow.exceptions import MlflowException

    try:
        _start(run)
    except MlflowException as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise TrackingError(f"tracking: the MLflow store at {_store(run).uri} refused the run: {first}") from None


def _start(run) -> None:
    store = _store(run)
    client = client_for(store)
    if run.resumed and run.ids.get(RUN_ID_KEY):
        run_id = run.ids[RUN_ID_KEY]
        exp_id = retrying(client.get_run, run_id).info.experiment_id
        retrying(client.update_run, run_id, status="RUNNING")
        tracked = TrackedRun(client, store, run_id, exp_id)
        run.state[STATE_KEY] = tracked
        tracked.set_tags({"harness.resumed": "true", **identity_tags()})
        log.info("resuming MLflow run %s", run_id)
    else:
        sweep = read_sweep_file(run.sweep["dir"]) if run.sweep else None
        exp_id = sweep["experiment_id"] if sweep else experiment_id(client, store)
        tags = {
            "harness.config_hash": run.config_hash, "harness.output_dir": str(run.output_dir),
            "harness.version": harness.__version__, **identity_tags(),
        }
        name = run.name
        if sweep:
            tags[PARENT_TAG] = sweep["parent_run_id"]
            tags["harness.sweep_job"] = str(run.sweep.get("job"))
            name = child_name(run, sweep["swept"])
        created = retrying(client.create_run, exp_id, run_name=_short(name), tags=tags)
        tracked = TrackedRun(client, store, created.info.run_id, exp_id)
        run.state[STATE_KEY] = tracked  # from here on, run end closes it whatever happens next
        tracked.log_params(run.params)
        tracked.log_text(run.config_yaml, "config.yaml")
    run.ids[RUN_ID_KEY] = tracked.run_id


def _short(name: str, limit: int = 250) -> str:
    """Run names are for reading in the UI; a database server may refuse long ones."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


@hookimpl
def harness_log_metrics(run, records):
    tracked = run.state.get(STATE_KEY)
    if tracked is not None:
        tracked.log_records(records)


@hookimpl
def harness_epoch_end(run, epoch, metrics):
    tracked = run.state.get(STATE_KEY)
    if tracked is not None:
        tracked.log_metrics(metrics, step=epoch + 1)


@hookimpl
def harness_checkpoint_saved(run, directory, epoch):
    tracked = run.state.get(STATE_KEY)
    if tracked is not None and run.config.tracking.get("log_checkpoints", True):
        from harness.training.checkpoint import files

        arrays_file = files(directory)[1]
        tracked.log_artifact(arrays_file, "checkpoint")  # the arrays first, the manifest naming them last
        tracked.log_artifact(files(directory)[0], "checkpoint")


@hookimpl(trylast=True)
def harness_run_end(run, status, error):
    tracked = run.state.get(STATE_KEY)
    if tracked is None:
        return
    try:
        summary = {k: run.summary[k] for k in SUMMARY_METRICS if k in run.summary}
        if summary:
            tracked.log_metrics(summary, step=len(run.history))
        for path in run.artifacts:
            tracked.log_artifact(Path(path), "plots" if Path(path).suffix == ".png" else None)
        if error is not None:
            reason = (str(error).splitlines() or [type(error).__name__])[0][:5000]
            tracked.set_tags({"harness.error": f"{type(error).__name__}: {reason}"})
        elif run.resumed:  # the reason it stopped last time no longer describes it
            tracked.clear_tag("harness.error")
        if status == "FINISHED" and run.config.tracking.get("log_model", True):
            from harness_mlflow.models import log_pyfunc_model

            log_pyfunc_model(tracked, run)
    except Exception:
        log.exception("could not record everything for MLflow run %s", tracked.run_id)
        if status == "FINISHED":
            status = "FAILED"
    finally:
        tracked.terminate(status)
    log.info("MLflow run %s (%s) in experiment %r, store %s", tracked.run_id, status, tracked.store.experiment, tracked.store.uri)
    log.info("see it with: %s", tracked.store.ui_command())


@hookimpl
def harness_locate_checkpoint(reference, config):
    if not RUN_ID.match(reference) or not _active(config):
        return None
    from omegaconf import OmegaConf

    tracking = OmegaConf.to_container(config.tracking, resolve=True)
    store = resolve_store(tracking, Path(str(config.paths.project_dir)), str(config.name))
    client = client_for(store)
    from mlflow.exceptions import MlflowException

    target = Path(tempfile.mkdtemp(prefix=f"harness-resume-{reference[:8]}-"))
    try:
        retrying(client.download_artifacts, reference, "checkpoint", str(target))
    except MlflowException as exc:
        shutil.rmtree(target, ignore_errors=True)
        first = (str(exc).splitlines() or [""])[0]
        raise TrackingError(f"resume: cannot get the checkpoint of MLflow run {reference} from {store.uri}: {first}") from None
    log.info("downloaded the checkpoint of MLflow run %s", reference)
    return target / "checkpoint"


@hookimpl
def harness_find_finished(run):
    if not _active(run.config) or not run.sweep:
        return None
    sweep = read_sweep_file(run.sweep["dir"])
    if sweep is None:
        return None
    client = client_for(_store(run))
    found = retrying(
        client.search_runs, [sweep["experiment_id"]],
        filter_string=(f"tags.`{PARENT_TAG}` = '{sweep['parent_run_id']}' and "
                       f"tags.`harness.config_hash` = '{run.config_hash}' and attributes.status = 'FINISHED'"),
        max_results=1,
    )
    if not found:
        return None
    return {"run_id": found[0].info.run_id, **found[0].data.metrics}


@hookimpl
def harness_register_commands(subparsers):
    from harness_mlflow.commands import add_commands

    add_commands(subparsers)

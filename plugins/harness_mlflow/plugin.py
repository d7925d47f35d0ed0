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
import weakref
from pathlib import Path

import harness
from harness import Model, RunInfo, RunRecord, RunResult, Splits, TrackingError, hookimpl
from harness_mlflow.process import identity_tags, live_owner
from harness_mlflow.store import client_for, experiment_id, resolve_store, retrying
from harness_mlflow.sweep import PARENT_TAG, harness_sweep_end, harness_sweep_start, read_sweep_file  # noqa: F401 (hooks)
from harness_mlflow.tracked import TrackedRun

log = logging.getLogger("harness.mlflow")
SECTION = "tracking"
RUN_ID_KEY = "mlflow_run_id"
# The MLflow run of each run in progress (with what logging the model needs at the end).
_tracked: weakref.WeakKeyDictionary[RunInfo, TrackedRun] = weakref.WeakKeyDictionary()
SUMMARY_METRICS = ("test_accuracy", "test_loss", "train_seconds", "epochs", "best_epoch", "best_val_accuracy")
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _active(config) -> bool:
    return config.section(SECTION).get("backend") == "mlflow"


def _tracking(config) -> dict:
    return config.section(SECTION)


def _store(run: RunInfo):
    return resolve_store(_tracking(run.config), run.project_dir, run.config.name)


def child_name(run: RunInfo, swept: list[str]) -> str:
    """``gd=sgd optimizer.lr=0.1``: only the overrides the sweep varies."""
    overrides = run.sweep.overrides if run.sweep else ()
    keep = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    return " ".join(keep) or run.name


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")


@hookimpl
def harness_register_config_sections(register):
    register(SECTION, hashed=False)  # where a run is recorded, not what it computes


@hookimpl
def harness_validate_config(config):
    if not _active(config):
        return
    from harness_mlflow.store import check_reachable

    check_reachable(resolve_store(_tracking(config), Path(config.paths.project_dir), config.name))


@hookimpl
def harness_run_start(run: RunInfo, model: Model, data: Splits, result: RunResult) -> None:
    if not _active(run.config):
        return
    from mlflow.exceptions import MlflowException

    try:
        tracked = _start(run, result)
    except MlflowException as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise TrackingError(f"tracking: the MLflow store at {_store(run).uri} refused the run: {first}") from None
    tracked.model, tracked.example = model, data.test_x[:5]


def _start(run: RunInfo, result: RunResult) -> TrackedRun:
    store = _store(run)
    client = client_for(store)
    if run.resumed and result.ids.get(RUN_ID_KEY):
        run_id = result.ids[RUN_ID_KEY]
        exp_id = retrying(client.get_run, run_id).info.experiment_id
        retrying(client.update_run, run_id, status="RUNNING")
        tracked = TrackedRun(client, store, run_id, exp_id)
        _tracked[run] = tracked
        tracked.set_tags({"harness.resumed": "true", **identity_tags()})
        log.info("resuming MLflow run %s", run_id)
    else:
        sweep = read_sweep_file(run.sweep.dir) if run.sweep else None
        exp_id = sweep["experiment_id"] if sweep else experiment_id(client, store)
        tags = {
            "harness.config_hash": run.config_hash, "harness.output_dir": str(run.output_dir),
            "harness.version": harness.__version__, **identity_tags(),
        }
        name = run.name
        if sweep:
            tags[PARENT_TAG] = sweep["parent_run_id"]
            tags["harness.sweep_job"] = str(run.sweep.job)
            name = child_name(run, sweep["swept"])
        created = retrying(client.create_run, exp_id, run_name=_short(name), tags=tags)
        tracked = TrackedRun(client, store, created.info.run_id, exp_id)
        _tracked[run] = tracked  # from here on, run end closes it whatever happens next
        tracked.log_params(dict(run.params))
        tracked.log_text(run.config_yaml, "config.yaml")
    result.ids[RUN_ID_KEY] = tracked.run_id
    return tracked


def _short(name: str, limit: int = 250) -> str:
    """Run names are for reading in the UI; a database server may refuse long ones."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


@hookimpl
def harness_log_metrics(run: RunInfo, records):
    tracked = _tracked.get(run)
    if tracked is not None:
        tracked.log_records(records)


@hookimpl
def harness_epoch_end(run: RunInfo, epoch: int, metrics):
    tracked = _tracked.get(run)
    if tracked is not None:
        tracked.log_metrics(metrics, step=epoch + 1)


@hookimpl
def harness_checkpoint_saved(run: RunInfo, directory: Path):
    tracked = _tracked.get(run)
    if tracked is not None and _tracking(run.config).get("log_checkpoints", True):
        manifest, arrays_file = harness.checkpoint_files(directory)
        tracked.log_artifact(arrays_file, "checkpoint")  # the arrays first, the manifest naming them last
        tracked.log_artifact(manifest, "checkpoint")


@hookimpl(trylast=True)
def harness_run_end(run: RunInfo, status: str, error: BaseException | None, result: RunResult):
    tracked = _tracked.pop(run, None)
    if tracked is None:
        return
    failure = None
    try:
        summary = {k: result.summary[k] for k in SUMMARY_METRICS if k in result.summary}
        if summary:
            tracked.log_metrics(summary, step=len(result.history))
        for path in result.artifacts:
            tracked.log_artifact(Path(path), _artifact_folder(run, Path(path)))
        tags = {}
        if result.diverged:
            tags["harness.diverged"] = str(result.diverged_step)
        if result.stopped_by:
            tags["harness.stopped_by"] = result.stopped_by
        if error is not None:
            reason = (str(error).splitlines() or [type(error).__name__])[0][:5000]
            tags["harness.error"] = f"{type(error).__name__}: {reason}"
        elif run.resumed:  # the reason it stopped last time no longer describes it
            tracked.clear_tag("harness.error")
        if tags:
            tracked.set_tags(tags)
        if status == "FINISHED" and _tracking(run.config).get("log_model", True) and tracked.model is not None:
            from harness_mlflow.models import log_pyfunc_model

            log_pyfunc_model(tracked, run)
    except Exception as exc:
        log.exception("could not record everything for MLflow run %s", tracked.run_id)
        failure = exc
        if status == "FINISHED":
            status = "FAILED"
    finally:
        tracked.terminate(status)
    log.info("MLflow run %s (%s) in experiment %r, store %s", tracked.run_id, status, tracked.store.experiment, tracked.store.uri)
    log.info("see it with: %s", tracked.store.ui_command())
    if failure is not None:
        raise TrackingError(f"MLflow run {tracked.run_id} could not be recorded completely: {failure}") from None


def _artifact_folder(run: RunInfo, path: Path) -> str | None:
    """A file's folder in the run's artifacts: its folder within the run's output folder
    (``plots/``, ``diagnostics/``), or the top level for files from elsewhere."""
    try:
        parent = path.resolve().parent.relative_to(run.output_dir)
    except ValueError:
        return None
    return None if str(parent) == "." else parent.as_posix()


@hookimpl
def harness_locate_checkpoint(reference, config):
    from omegaconf import OmegaConf

    tracking = OmegaConf.to_container(config.tracking, resolve=True) if "tracking" in config else {}
    if not RUN_ID.match(reference) or tracking.get("backend") != "mlflow":
        return None
    store = resolve_store(tracking, Path(str(config.paths.project_dir)), str(config.name))
    client = client_for(store)
    from mlflow.exceptions import MlflowException

    try:  # a run whose process still trains it is not resumed twice (issue 12, item 4)
        found = retrying(client.get_run, reference)
        owner = live_owner(found.data.tags) if found.info.status == "RUNNING" else None
    except MlflowException:
        owner = None  # an unknown id: the download below says so
    if owner is not None:
        raise TrackingError(f"resume: MLflow run {reference} is still running ({owner}): stop it first or wait for it to end")
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
def harness_find_finished(run: RunInfo) -> RunRecord | None:
    if not _active(run.config) or not run.sweep:
        return None
    sweep = read_sweep_file(run.sweep.dir)
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
    from harness_mlflow.compare import record_of

    return record_of(client, found[0])


@hookimpl
def harness_register_commands(subparsers):
    from harness_mlflow.commands import add_commands

    add_commands(subparsers)

"""One harness run in MLflow, start to end; the plugin's hooks only call these functions.

Runs are made with ``MlflowClient`` and explicit run ids, never MLflow's process-wide
"active run", so a reused joblib worker starts clean; every run opened here is ended by
:func:`end` — FINISHED, FAILED (with the reason in ``harness.error``) or KILLED. In a
sweep each run is a child of the parent run :mod:`harness_mlflow.sweep` created, and
takes the context tags the launching process resolved.

What a run records: MLflow's context tags; as params the experiment (the flattened
config without the keys that say where or how it is recorded: ``paths.*``,
``tracking.*``, ``resume``, ``progress``) and the values it really used
(``effective.train_size``, ``effective.batch_size``...); its three splits as dataset
inputs; per-epoch and final metrics (the test metrics name the test dataset); plots and
checkpoints; and the model as a LoggedModel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness import RunInfo, RunResult, TrackingError
from harness_mlflow import unrecorded
from harness_mlflow.names import child_name, short
from harness_mlflow.process import identity_tags
from harness_mlflow.settings import Settings
from harness_mlflow.store import Store, client_for, experiment_id, resolve_store, retrying, store_failure
from harness_mlflow.sweep import PARENT_TAG, read_sweep_file
from harness_mlflow.tracked import TrackedRun

log = logging.getLogger("harness.mlflow")
SECTION = "tracking"
RUN_ID_KEY = "mlflow_run_id"
SUMMARY_METRICS = ("test_accuracy", "test_loss", "train_seconds", "epochs", "best_epoch", "best_val_accuracy")
TEST_METRICS = ("test_accuracy", "test_loss")
NOT_PARAMS = ("paths.", "tracking.", "resume", "progress")


@dataclass
class OpenRun:
    """What the plugin keeps between a run's events."""

    tracked: TrackedRun
    settings: Settings
    model: object = None
    data: object = None
    inputs: list = field(default_factory=list)  # datasets.SplitInput, one per split


def store_of(run: RunInfo) -> Store:
    return resolve_store(run.config.section(SECTION), run.project_dir, run.config.name)


def run_params(params: dict[str, str]) -> dict[str, str]:
    """The experiment's config, without where and how it is recorded."""
    return {key: value for key, value in params.items() if not key.startswith(NOT_PARAMS)}


def effective_params(sizes: Mapping[str, int], batch_size: int, steps_per_epoch: int) -> dict[str, str]:
    """What the run really used, where that can differ from what was asked (a size
    clamped to the data, ``gd=batch`` meaning the whole training set)."""
    values = {f"effective.{split}_size": n for split, n in sizes.items()}
    if batch_size:
        values["effective.batch_size"] = batch_size
    if steps_per_epoch:
        values["effective.steps_per_epoch"] = steps_per_epoch
    return {key: str(value) for key, value in values.items()}


def start(run: RunInfo, model, data, resumed_run_id: str | None, on_open) -> OpenRun:
    """Open (or resume) the run's MLflow run and record what is known before training.

    ``on_open(opened)`` is called as soon as the MLflow run exists, before anything is
    logged to it, so that the run is ended at run end even if logging fails."""
    from mlflow.exceptions import MlflowException

    settings = Settings.from_tracking(run.config.section(SECTION))
    store = store_of(run)
    try:
        return _start(run, model, data, settings, store, resumed_run_id, on_open)
    except MlflowException as exc:
        raise TrackingError(f"tracking: the MLflow store at {store.uri} refused the run: {store_failure(exc)}") from None


def _start(run: RunInfo, model, data, settings: Settings, store: Store, resumed_run_id: str | None, on_open) -> OpenRun:
    from harness_mlflow.context import context_tags
    from harness_mlflow.datasets import log_split_inputs, split_inputs

    client = client_for(store)
    if run.resumed and resumed_run_id:
        from harness_mlflow.resumable import refuse_unresumable

        run_id = resumed_run_id
        found = retrying(client.get_run, run_id)
        refuse_unresumable(found)  # resume=<run folder> of a finished or live run
        exp_id = found.info.experiment_id
        retrying(client.update_run, run_id, status="RUNNING")
        opened = OpenRun(TrackedRun(client, store, run_id, exp_id), settings, model, data)
        on_open(opened)
        unrecorded.reserve(run.output_dir, run_id)
        opened.tracked.set_tags({"harness.resumed": "true", **identity_tags()})
        opened.inputs = split_inputs(data, run.config.data["name"])  # logged when the run started
        log.info("resuming MLflow run %s", run_id)
        return opened
    sweep = read_sweep_file(run.sweep.dir) if run.sweep else None
    exp_id = sweep["experiment_id"] if sweep else experiment_id(client, store)
    context = sweep["context_tags"] if sweep and sweep.get("context_tags") else context_tags(run.project_dir)
    tags = {
        **context, "harness.config_hash": run.config_hash, "harness.output_dir": str(run.output_dir),
        "harness.version": harness.__version__, **identity_tags(),
    }
    name = run.name
    if sweep and run.sweep:  # a sweep file is read only for a sweep's run
        tags[PARENT_TAG] = sweep["parent_run_id"]
        tags["harness.sweep_job"] = str(run.sweep.job)
        name = child_name(list(run.sweep.overrides), sweep["swept"], name)
    created = retrying(client.create_run, exp_id, run_name=short(name), tags=tags)
    opened = OpenRun(TrackedRun(client, store, created.info.run_id, exp_id), settings, model, data)
    on_open(opened)  # from here on, run end closes it whatever happens next
    unrecorded.reserve(run.output_dir, opened.tracked.run_id)
    opened.tracked.log_params({**run_params(dict(run.params)),
                               **effective_params(run.sizes, run.batch_size, run.steps_per_epoch)})
    opened.tracked.log_text(run.config_yaml, "config.yaml")
    opened.inputs = split_inputs(data, run.config.data["name"], context)
    log_split_inputs(client, opened.tracked.run_id, opened.inputs)
    return opened


def log_checkpoint(opened: OpenRun, directory: Path) -> None:
    manifest, arrays_file = harness.checkpoint_files(directory)
    opened.tracked.flush()  # the metrics the checkpoint covers are in the store before it is
    opened.tracked.log_artifact(arrays_file, "checkpoint")  # the arrays first, the manifest naming them last
    opened.tracked.log_artifact(manifest, "checkpoint")


def end(opened: OpenRun, run: RunInfo, status: str, error: BaseException | None, result: RunResult) -> str:
    """Record the run's results and end it; returns the status it was ended with.

    The final and test metrics, the metrics linked to the model and the tags go in one
    ``log_batch`` after the model is logged; the test metrics are linked to the model (and
    the test dataset) when one was logged, and logged in any case: a model that could not
    be logged must not cost the run its result. A run whose results could not all be
    recorded ends FAILED and a :class:`harness.TrackingError` says so in one line once it
    is ended; when the store cannot even end it, the outcome is kept in the run's folder
    for ``harness runs repair`` (:mod:`harness_mlflow.unrecorded`)."""
    tracked = opened.tracked
    steps = len(result.history)
    final = {k: result.summary[k] for k in SUMMARY_METRICS if k in result.summary}
    test = next((i for i in opened.inputs if i.split == "test"), None)
    model_id: str | None = None
    failure: BaseException | None = None
    sent = False
    tags: dict[str, str] = {}
    try:
        for path in result.artifacts:
            tracked.log_artifact(Path(path), artifact_folder(run, Path(path)))
        if result.diverged:
            tags["harness.diverged"] = str(result.diverged_step)
        if result.stopped_by:
            tags["harness.stopped_by"] = result.stopped_by
        if error is not None:
            reason = (str(error).splitlines() or [type(error).__name__])[0][:5000]
            tags["harness.error"] = f"{type(error).__name__}: {reason}"
        elif run.resumed:  # the reason it stopped last time no longer describes it
            tracked.clear_tag("harness.error")
        step = model_step(run, result.summary, steps)
        if status == "FINISHED" and opened.settings.log_model and opened.model is not None and has_model(result):
            model_id = _log_model(opened, run, step)
            tags["harness.model_id"] = model_id
        tracked.flush(result_metrics(tracked, final, steps, test, model_id, step), tags)
        sent = True
    except Exception as exc:
        failure = exc
    if not sent:
        try:  # the result without the model: a model that failed must not cost the run its metrics
            tracked.flush(result_metrics(tracked, final, steps, test, None, steps), tags)
        except Exception as exc:
            failure = failure or exc
    if failure is not None:
        log.error("could not record everything for MLflow run %s: %s", tracked.run_id, store_failure(failure))
        log.debug("the failure in full", exc_info=failure)
        if status == "FINISHED":
            status = "FAILED"
    try:
        tracked.terminate(status)
    except Exception as exc:
        raise _left_running(opened, run, status, failure or exc, exc, final, steps) from None
    unrecorded.release(run.output_dir)
    log.info("MLflow run %s (%s) in experiment %r, store %s", tracked.run_id, status, tracked.store.experiment, tracked.store.uri)
    log.info("see it with: %s", tracked.store.ui_command())
    if failure is not None:
        raise TrackingError(
            f"MLflow run {tracked.run_id} could not be recorded completely ({store_failure(failure)}); it ended FAILED"
        ) from None
    return status


def result_metrics(tracked: TrackedRun, final: dict[str, float], steps: int, test, model_id: str | None,
                   step: int) -> list:
    """The run's final metrics at its last step; with a model, those of the model's step
    (the final ones too if it is the last) become the model's, and the test metrics name
    the test dataset they were measured on."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    linked = {"model_id": model_id} if model_id else {}
    own = linked if step == steps else {}
    scored = {**linked, "dataset_name": test.name, "dataset_digest": test.digest} if model_id and test else linked
    made = [Metric(k, float(v), now, steps, **(scored if k in TEST_METRICS else own)) for k, v in final.items()]
    if model_id:
        made += tracked.linked(step, model_id)
    return made


def has_model(result: RunResult) -> bool:
    """A run that diverged before any epoch finished has non-finite weights and no test
    score: there is no model to log (with ``training.on_divergence=record`` it is FINISHED)."""
    return not (result.diverged and "test_accuracy" not in result.summary)


def _left_running(opened: OpenRun, run: RunInfo, status: str, failure: BaseException, ending: BaseException,
                  final: dict, steps: int) -> TrackingError:
    """The store could not end the run: keep its outcome beside it, and say so in one line."""
    tracked = opened.tracked
    reason = store_failure(ending)
    record = {
        "run_id": tracked.run_id, "store": tracked.store.uri, "experiment_id": tracked.experiment_id,
        "status": status, "failed": store_failure(failure), "summary": final, "step": steps,
    }
    try:
        kept = unrecorded.write(run.output_dir, record)
    except OSError as exc:
        from harness import describe_os_error

        where = (f"no local record could be written either ({describe_os_error(exc)}): "
                 f"`harness runs repair` will end it KILLED once the store can be written")
    else:
        where = f"its outcome ({status}) is kept in {kept}: `harness runs repair` records it once the store can be written"
    log.error("MLflow run %s could not be ended (%s)", tracked.run_id, reason)
    log.debug("the failure in full", exc_info=ending)
    return TrackingError(f"the MLflow store {tracked.store.uri} cannot be written ({reason}): "
                         f"run {tracked.run_id} is left RUNNING there; {where}")


def artifact_folder(run: RunInfo, path: Path) -> str | None:
    """A file's folder in the run's artifacts: its folder within the run's output folder
    (``plots/``, ``diagnostics/``), or the top level for files from elsewhere."""
    try:
        parent = path.resolve().parent.relative_to(run.output_dir)
    except ValueError:
        return None
    return None if str(parent) == "." else parent.as_posix()


def model_step(run: RunInfo, summary: dict, steps: int) -> int:
    """The epoch whose weights the model has, as a metric step (epochs count from 1):
    MLflow links the run's metrics of that step (train and validation loss and accuracy)
    to the model. With ``training.restore_best`` that is the best epoch."""
    best = summary.get("best_epoch")
    if run.config.training.restore_best and isinstance(best, (int, float)) and 0 <= best < steps:
        return int(best) + 1
    return steps


def _log_model(opened: OpenRun, run: RunInfo, step: int) -> str:
    from harness_mlflow.models import log_model

    tags = {"harness.config_hash": run.config_hash, "harness.run_name": run.name[:5000]}
    record = log_model(
        opened.tracked, model=opened.model, settings=run.config, data=opened.data, registry=harness.get_registry(),
        plugin_infos=harness.get_plugin_manager().infos, step=step, params=run_params(dict(run.params)), tags=tags,
        register_as=opened.settings.register_model, bundle=opened.settings.bundle_wheels,
    )
    return record.model_id

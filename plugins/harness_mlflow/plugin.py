"""Records each run in MLflow: the hook implementations, each a thin call into the
modules that do the work (:mod:`harness_mlflow.runs` for a run's life,
:mod:`harness_mlflow.sweep` for a sweep's parent run, :mod:`harness_mlflow.commands`
for ``harness compare`` and ``harness runs repair``).

Active when ``tracking.backend`` is ``mlflow``. The MLflow run of each run in progress
is kept here, keyed by the run's :class:`harness.RunInfo`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

from harness import Model, RunInfo, RunRecord, RunResult, Splits, TrackingError, hookimpl
from harness_mlflow import runs
from harness_mlflow.settings import Settings
from harness_mlflow.store import client_for, resolve_store, retrying, store_failure
from harness_mlflow.sweep import PARENT_TAG, harness_sweep_end, harness_sweep_start, read_sweep_file  # noqa: F401 (hooks)

log = logging.getLogger("harness.mlflow")
SECTION = runs.SECTION
RUN_ID_KEY = runs.RUN_ID_KEY
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
# The MLflow run of each run in progress (with what logging the model needs at the end).
_open: weakref.WeakKeyDictionary[RunInfo, runs.OpenRun] = weakref.WeakKeyDictionary()


def _active(config) -> bool:
    return config.section(SECTION).get("backend") == "mlflow"


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
    from harness_mlflow.store import check_reachable, prepare_store

    tracking = config.section(SECTION)
    Settings.from_tracking(tracking)
    store = resolve_store(tracking, Path(config.paths.project_dir), config.name)
    check_reachable(store)
    prepare_store(store.uri)  # created once (safe under concurrent starters); garbage or read-only: one line


@hookimpl
def harness_run_start(run: RunInfo, model: Model, data: Splits, result: RunResult) -> None:
    if not _active(run.config):
        return

    def keep(opened: runs.OpenRun) -> None:
        _open[run] = opened
        result.ids[RUN_ID_KEY] = opened.tracked.run_id

    runs.start(run, model, data, result.ids.get(RUN_ID_KEY), on_open=keep)


@hookimpl
def harness_log_metrics(run: RunInfo, records):
    opened = _open.get(run)
    if opened is not None:
        with reported(opened, "logging metrics"):
            opened.tracked.log_records(records)


@hookimpl
def harness_epoch_end(run: RunInfo, epoch: int, metrics):
    opened = _open.get(run)
    if opened is not None:
        with reported(opened, f"logging the metrics of epoch {epoch + 1}"):
            opened.tracked.log_metrics(metrics, step=epoch + 1)


@hookimpl
def harness_checkpoint_saved(run: RunInfo, directory: Path):
    opened = _open.get(run)
    if opened is not None and opened.settings.log_checkpoints:
        with reported(opened, "uploading the checkpoint"):
            runs.log_checkpoint(opened, directory)


@contextlib.contextmanager
def reported(opened: runs.OpenRun, what: str) -> Iterator[None]:
    """A store that fails mid-run fails the run with one line, not MLflow's traceback."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, OSError) as exc:
        raise TrackingError(f"tracking: {what} failed for MLflow run {opened.tracked.run_id} "
                            f"({opened.tracked.store.uri}): {store_failure(exc)}") from None


@hookimpl(trylast=True)
def harness_run_end(run: RunInfo, status: str, error: BaseException | None, result: RunResult):
    opened = _open.pop(run, None)
    if opened is not None:
        runs.end(opened, run, status, error, result)


@hookimpl
def harness_locate_checkpoint(reference, config):
    from omegaconf import OmegaConf

    tracking = OmegaConf.to_container(config.tracking, resolve=True) if "tracking" in config else {}
    assert isinstance(tracking, dict)  # the tracking section is a mapping
    if not RUN_ID.match(reference) or tracking.get("backend") != "mlflow":
        return None
    store = resolve_store(tracking, Path(str(config.paths.project_dir)), str(config.name))
    client = client_for(store)
    from mlflow.exceptions import MlflowException

    from harness_mlflow.resumable import refuse_unresumable

    try:
        found = retrying(client.get_run, reference)
    except MlflowException:
        found = None  # an unknown id: the download below says so
    if found is not None:
        refuse_unresumable(found)  # finished, or still trained by a live process
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
    client = client_for(runs.store_of(run))
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

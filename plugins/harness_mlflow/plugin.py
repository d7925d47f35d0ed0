"""Records each run in MLflow: the hook implementations, each a thin call into the
modules that do the work (:mod:`harness_mlflow.runs` for a run's life,
:mod:`harness_mlflow.sweep` for a sweep's parent run, :mod:`harness_mlflow.commands`
for ``harness compare`` and ``harness runs repair``).

Active when ``tracking.backend`` is ``mlflow``.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

from harness import hookimpl
from harness.errors import TrackingError
from harness_mlflow import runs
from harness_mlflow.settings import Settings
from harness_mlflow.store import client_for, resolve_store, retrying
from harness_mlflow.sweep import PARENT_TAG, harness_sweep_end, harness_sweep_start, read_sweep_file  # noqa: F401 (hooks)

log = logging.getLogger("harness.mlflow")
STATE_KEY = "mlflow"
RUN_ID_KEY = runs.RUN_ID_KEY
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _active(config) -> bool:
    return config.tracking.get("backend") == "mlflow"


def _opened(run) -> runs.OpenRun | None:
    return run.state.get(STATE_KEY)


@hookimpl
def harness_validate_config(config):
    if not _active(config):
        return
    from harness_mlflow.store import check_reachable

    Settings.from_tracking(config.tracking)
    check_reachable(resolve_store(config.tracking, Path(config.paths.project_dir), config.name))


@hookimpl
def harness_run_start(run):
    if not _active(run.config):
        return

    def keep(opened: runs.OpenRun) -> None:
        run.state[STATE_KEY] = opened
        run.ids[RUN_ID_KEY] = opened.tracked.run_id

    runs.start(run, run.model, run.splits, on_open=keep)


@hookimpl
def harness_log_metrics(run, records):
    opened = _opened(run)
    if opened is not None:
        opened.tracked.log_records(records)


@hookimpl
def harness_epoch_end(run, epoch, metrics):
    opened = _opened(run)
    if opened is not None:
        opened.tracked.log_metrics(metrics, step=epoch + 1)


@hookimpl
def harness_checkpoint_saved(run, directory, epoch):
    opened = _opened(run)
    if opened is not None and opened.settings.log_checkpoints:
        from harness.training.checkpoint import files

        manifest, arrays_file = files(directory)[:2]
        opened.tracked.log_artifact(arrays_file, "checkpoint")  # the arrays first, the manifest naming them last
        opened.tracked.log_artifact(manifest, "checkpoint")


@hookimpl(trylast=True)
def harness_run_end(run, status, error):
    opened = _opened(run)
    if opened is None:
        return
    registry = run.registry
    runs.end(opened, run, status, error, summary=run.summary, steps=len(run.history), artifacts=list(run.artifacts),
             registry=registry, plugin_infos=registry.pm.infos if registry is not None else {})


@hookimpl
def harness_locate_checkpoint(reference, config):
    if not RUN_ID.match(reference) or not _active(config):
        return None
    from mlflow.exceptions import MlflowException
    from omegaconf import OmegaConf

    tracking = OmegaConf.to_container(config.tracking, resolve=True)
    store = resolve_store(tracking, Path(str(config.paths.project_dir)), str(config.name))
    client = client_for(store)
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
    client = client_for(runs.store_of(run))
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

"""One parent MLflow run per multirun sweep, created before any job starts.

These sweep hooks run in the launching process. Before the jobs, they create (and
migrate) the store once — concurrent jobs racing MLflow's schema migrations on a fresh
SQLite file lost runs —, create or reuse the sweep's parent run, and write
``harness_mlflow_sweep.json`` into the sweep folder; every job, in any launcher's
process, reads it and files its run as a child of that parent. After the jobs: the
parent gets the sweep's summary (the best child's numbers, how many finished:
:mod:`harness_mlflow.sweep_summary`) and ends FINISHED only if every configuration did;
the comparison files the report plugins drew and any files a sweeper left
(``harness_sweep_end``'s ``artifacts``) are attached to it. The parent carries MLflow's
context tags (resolved here once and handed to every job in the sweep file) and the
swept keys as params, with what they range over. If the launcher dies
first (Ctrl-C, an exception), an exit handler ends the parent KILLED, so no parent is
left RUNNING.

Re-running the same sweep command after a crash reuses the unfinished parent with the
same sweep key; jobs whose config already FINISHED under it are skipped.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from harness import RunRecord, SweepInfo, atomic_write, hookimpl
from harness_mlflow.process import identity_tags
from harness_mlflow.store import client_for, experiment_id, resolve_store, retrying

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger("harness.mlflow")
SWEEP_FILE = "harness_mlflow_sweep.json"
PARENT_TAG = "mlflow.parentRunId"
SUPERSEDED_TAG = "harness.superseded_by"  # on an attempt a resumed sweep re-ran to the end


def sweep_key(sweep: SweepInfo) -> str:
    """Identity of a sweep command: re-running it finds its unfinished parent."""
    params = _sweeper_params(sweep.config)
    text = json.dumps([sweep.name, sorted(sweep.overrides), sorted(params.items())], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sweeper_params(config: DictConfig) -> dict:
    params = config.hydra.sweeper.get("params") or {}
    return _plain_dict(params, resolve=False) if isinstance(params, DictConfig) else dict(params)


def _plain_dict(section: DictConfig, resolve: bool) -> dict[Any, Any]:
    """A config mapping as a plain ``dict`` (``OmegaConf.to_container`` types any container)."""
    plain = OmegaConf.to_container(section, resolve=resolve)
    assert isinstance(plain, dict)  # a DictConfig gives a dict
    return plain


def swept_values(sweep: SweepInfo) -> dict[str, str]:
    """What each swept key ranges over (``{"optimizer.lr": "0.05,0.1"}``): the values of
    the command line's sweep overrides, the sweeper's params as configured."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    found = {key: "" for key in sweep.swept}
    for override in OverridesParser.create().parse_overrides(list(sweep.overrides)):
        if override.is_sweep_override() and override.input_line:
            found[override.key_or_group] = override.input_line.split("=", 1)[1]
    for key, value in _sweeper_params(sweep.config).items():
        found[key.lstrip("+~")] = str(value)
    return {key: value for key, value in found.items() if value}


def parent_name(sweep: SweepInfo) -> str:
    """The experiment and what the sweep varies (``lr_sweep: optimizer.lr``): never a URI or a path."""
    return f"{sweep.name}: {', '.join(sweep.swept)}" if sweep.swept else f"{sweep.name}: presets"


def all_configs_finished(children) -> bool:
    """Every configuration has a FINISHED child; runs superseded by a resumed sweep don't count."""
    done: dict[str, bool] = {}
    for child in children:
        key = child.data.tags.get("harness.config_hash", child.info.run_id)
        done[key] = done.get(key, False) or child.info.status == "FINISHED"
    return all(done.values())


def parent_status(children, unfinished: str = "FAILED") -> str:
    """The parent rule: FINISHED when every configuration of the sweep has a FINISHED run
    under it (an attempt killed and then re-run to the end is superseded, not a failure);
    otherwise ``unfinished``: FAILED for a sweep that ran to its end, KILLED for one whose
    launcher was stopped or died (``harness runs repair``)."""
    return "FINISHED" if children and all_configs_finished(children) else unfinished


def superseded(children) -> dict[str, str]:
    """``{run id: id of the FINISHED run of the same configuration}`` for every attempt a
    resumed sweep replaced (killed or failed, then re-run to the end)."""
    finished: dict[str, str] = {}
    for child in children:
        if child.info.status == "FINISHED":
            finished.setdefault(child.data.tags.get("harness.config_hash", child.info.run_id), child.info.run_id)
    return {
        child.info.run_id: finished[key] for child in children
        if child.info.status != "FINISHED" and (key := child.data.tags.get("harness.config_hash", child.info.run_id)) in finished
    }


def read_sweep_file(sweep_dir: str | Path) -> dict | None:
    path = Path(sweep_dir) / SWEEP_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _project_dir(config: DictConfig) -> Path:
    """``paths.project_dir``; in the launcher ``${hydra:runtime.cwd}`` is not resolvable, and is the cwd."""
    try:
        return Path(str(config.paths.project_dir))
    except Exception:
        return Path.cwd()


class SweepParent:
    """The parent run of the sweep this launching process runs (one sweep per process)."""

    def __init__(self) -> None:
        self.client: MlflowClient | None = None  # set by start()
        self.parent_id: str | None = None
        self.done = False

    def start(self, sweep: SweepInfo) -> None:
        from harness_mlflow.context import context_tags

        config = sweep.config
        tracking = _plain_dict(config.tracking, resolve=True)
        store = resolve_store(tracking, _project_dir(config), sweep.name)
        self.client = client = client_for(store)
        exp_id = experiment_id(client, store)  # creates and migrates the store, once
        key = sweep_key(sweep)
        context = context_tags(_project_dir(config))
        reuse = tracking.get("resume_sweeps", True)
        self.parent_id = (reuse and self._reuse(client, exp_id, key)) or self._create(client, exp_id, key, sweep, context)
        sweep.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(sweep.dir / SWEEP_FILE, json.dumps({
            "parent_run_id": self.parent_id, "experiment_id": exp_id, "uri": store.uri,
            "swept": list(sweep.swept), "sweep_key": key, "context_tags": context,
        }))
        atexit.register(self.abandon)
        log.info("sweep parent run %s in experiment %r (%s)", self.parent_id, store.experiment, store.uri)
        if tracking.get("log_model", True) and tracking.get("bundle_wheels", True):
            prepare_wheels()

    def _reuse(self, client: MlflowClient, exp_id: str, key: str) -> str | None:
        found = retrying(
            client.search_runs, [exp_id],
            filter_string=f"tags.`harness.sweep_key` = '{key}'", order_by=["attributes.start_time DESC"], max_results=1,
        )
        if found and found[0].info.status != "FINISHED":
            run_id = found[0].info.run_id
            retrying(client.update_run, run_id, status="RUNNING")
            retrying(client.set_tag, run_id, "harness.pid", identity_tags()["harness.pid"])
            if "harness.error" in found[0].data.tags:  # what `runs repair` said about the dead launcher
                retrying(client.delete_tag, run_id, "harness.error")
            log.info("resuming sweep %s: jobs that already finished are skipped (tracking.resume_sweeps=false starts afresh)", run_id)
            return run_id
        return None

    def _create(self, client: MlflowClient, exp_id: str, key: str, sweep: SweepInfo, context: dict[str, str]) -> str:
        from mlflow.entities import Param

        tags = {
            **context, "harness.sweep": "parent", "harness.sweep_key": key,
            "harness.overrides": " ".join(sweep.overrides)[:5000], "harness.command": " ".join(sys.argv)[:5000],
            **identity_tags(),
        }
        run_id = retrying(client.create_run, exp_id, run_name=parent_name(sweep)[:250], tags=tags).info.run_id
        swept = swept_values(sweep)
        if swept:
            retrying(client.log_batch, run_id, params=[Param(k, v[:6000]) for k, v in sorted(swept.items())])
        return run_id

    def end(self, sweep: SweepInfo, jobs: list[RunRecord], artifacts: list[Path]) -> None:
        from harness_mlflow.compare import children_of, latest_per_config

        client, parent_id = self._started()
        children = children_of(client, parent_id)
        ok = bool(jobs) and all(j.status in ("FINISHED", "SKIPPED") for j in jobs)
        ok = ok and bool(children) and all_configs_finished(children)
        for run_id, by in superseded(children).items():
            retrying(client.set_tag, run_id, SUPERSEDED_TAG, by)
        try:
            self._summarize(client, parent_id, latest_per_config(children))
        except Exception:  # the parent's status matters more than its summary
            log.exception("could not record the sweep's summary on its parent run")
        try:
            for path in artifacts:
                retrying(client.log_artifact, parent_id, str(path), _folder_of(path, sweep))
            if sweep.tags:
                from mlflow.entities import RunTag

                tags = [RunTag(k, str(v)[:5000]) for k, v in sweep.tags.items()]
                retrying(client.log_batch, parent_id, tags=tags)
        except Exception:  # the parent's status matters more than its pictures
            log.exception("could not attach the sweep's summary to its parent run")
        status = "FINISHED" if ok else "FAILED"
        retrying(client.set_terminated, parent_id, status)
        self.done = True
        log.info("sweep parent run %s %s: %d child runs", self.parent_id, status, len(children))

    def _summarize(self, client: MlflowClient, parent_id: str, children) -> None:
        import time

        from mlflow.entities import Metric, RunTag

        from harness_mlflow.sweep_summary import summarize

        summary = summarize(children)
        now = int(time.time() * 1000)
        tags = {**summary.tags, "mlflow.note.content": summary.note}
        retrying(client.log_batch, parent_id,
                 metrics=[Metric(k, v, now, 0) for k, v in summary.metrics.items()],
                 tags=[RunTag(k, v) for k, v in tags.items()])

    def _started(self) -> tuple[MlflowClient, str]:
        """The client and parent run id :meth:`start` set."""
        if self.client is None or self.parent_id is None:
            raise RuntimeError("the sweep's parent run was not started")
        return self.client, self.parent_id

    def abandon(self) -> None:
        """At exit, a parent not closed by :meth:`end` (the launcher died) ends KILLED."""
        if self.client is not None and self.parent_id is not None and not self.done:
            try:
                self.client.set_terminated(self.parent_id, "KILLED")
            except Exception:
                pass


def _folder_of(path: Path, sweep: SweepInfo) -> str | None:
    """Where a sweep's file goes among the parent run's artifacts: its folder below the
    comparison or summary folder it was written into (``diagnostics/``), else the top."""
    for base in (sweep.dir / "comparison", sweep.summary_dir):
        try:
            relative = path.resolve().parent.relative_to(base.resolve())
        except ValueError:
            continue
        return None if str(relative) == "." else relative.as_posix()
    return None


_current: SweepParent | None = None


def prepare_wheels() -> None:
    """Build (or find cached) the wheel models will bundle, once, before the jobs start:
    parallel jobs would otherwise each build the same wheel."""
    from harness import HarnessError
    from harness_mlflow.requirements import core_distribution, installed
    from harness_mlflow.wheels import wheel_for

    dist = installed(core_distribution())
    try:
        if dist is not None:
            wheel_for(dist)
    except HarnessError as exc:
        log.warning("no wheel to bundle with the sweep's models (%s); each job will try again", exc)


def _tracked(config: DictConfig) -> bool:
    return OmegaConf.select(config, "tracking.backend") == "mlflow"


@hookimpl
def harness_sweep_start(sweep: SweepInfo) -> None:
    global _current
    if not _tracked(sweep.config):
        return
    _current = SweepParent()
    _current.start(sweep)


@hookimpl
def harness_sweep_end(sweep: SweepInfo, jobs: list[RunRecord], artifacts: list[Path]) -> None:
    if _current is not None and _current.parent_id is not None:
        _current.end(sweep, jobs, artifacts)

"""One parent MLflow run per multirun sweep, created before any job starts.

These sweep hooks run in the launching process. Before the jobs, they create (and
migrate) the store once — concurrent jobs racing MLflow's schema migrations on a fresh
SQLite file lost runs —, create or reuse the sweep's parent run, and write
``harness_mlflow_sweep.json`` into the sweep folder; every job, in any launcher's
process, reads it and files its run as a child of that parent. After the jobs: the
parent gets a comparison plot and table of its children and ends FINISHED only if every
child did. If the launcher dies first (Ctrl-C, an exception), an exit handler ends the
parent KILLED, so no parent is left RUNNING.

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

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from harness import hookimpl
from harness_mlflow.process import identity_tags
from harness_mlflow.store import client_for, experiment_id, resolve_store, retrying

log = logging.getLogger("harness.mlflow")
SWEEP_FILE = "harness_mlflow_sweep.json"
PARENT_TAG = "mlflow.parentRunId"


def swept_keys(task_overrides: list[str], sweeper_params: dict | None) -> list[str]:
    """Config keys the sweep varies: overrides with several values, and sweeper params."""
    keys = []
    for override in OverridesParser.create().parse_overrides(task_overrides):
        if override.is_sweep_override():
            keys.append(override.key_or_group)
    for key in (sweeper_params or {}):
        keys.append(key.lstrip("+~"))
    return list(dict.fromkeys(keys))


def sweep_key(name: str, task_overrides: list[str], sweeper_params: dict | None) -> str:
    text = json.dumps([name, sorted(task_overrides), sorted((sweeper_params or {}).items())], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def all_configs_finished(children) -> bool:
    """Every configuration has a FINISHED child; runs superseded by a resumed sweep don't count."""
    done: dict[str, bool] = {}
    for child in children:
        key = child.data.tags.get("harness.config_hash", child.info.run_id)
        done[key] = done.get(key, False) or child.info.status == "FINISHED"
    return all(done.values())


def parent_name(name: str, swept: list[str]) -> str:
    """``sweep lr_search: optimizer.lr gd.batch_size``: the experiment and what the sweep
    varies; never the fixed overrides (a tracking URI, a path) nor their values."""
    return f"sweep {name}: {' '.join(swept)}" if swept else f"sweep {name}"


# --- Files and tags a sweeper or launcher leaves for the parent run (plugin API 1.0,
# item 5: the core will attach <sweep dir>/sweep_summary/ itself; until then, here). ---
SUMMARY_DIR = "sweep_summary"
SUMMARY_TAGS = "tags.json"


def attach_sweep_summary(client, parent_id: str, sweep_dir: Path) -> None:
    """Upload ``<sweep dir>/sweep_summary/*`` to the parent and set ``tags.json``'s tags."""
    folder = sweep_dir / SUMMARY_DIR
    if not folder.is_dir():
        return
    from mlflow.entities import RunTag

    try:
        tags_file = folder / SUMMARY_TAGS
        if tags_file.is_file():
            tags = json.loads(tags_file.read_text())
            if not isinstance(tags, dict):
                raise ValueError(f"{tags_file} is not a JSON object")
            retrying(client.log_batch, parent_id, tags=[RunTag(str(k), str(v)[:5000]) for k, v in tags.items()])
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name != SUMMARY_TAGS:
                retrying(client.log_artifact, parent_id, str(path))
    except Exception:  # the parent's status matters more than its summary
        log.exception("could not attach %s to the sweep's parent run", folder)


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
        self.client = None
        self.parent_id: str | None = None
        self.done = False

    def start(self, config: DictConfig) -> None:
        tracking = OmegaConf.to_container(config.tracking, resolve=True)
        store = resolve_store(tracking, _project_dir(config), str(config.name))
        self.client = client_for(store)
        exp_id = experiment_id(self.client, store)  # creates and migrates the store, once
        overrides = list(config.hydra.overrides.task)
        params = config.hydra.sweeper.get("params") or {}
        params = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else dict(params)
        key = sweep_key(str(config.name), overrides, params)
        swept = swept_keys(overrides, params)
        reuse = tracking.get("resume_sweeps", True)
        self.parent_id = (reuse and self._reuse(exp_id, key)) or self._create(exp_id, key, overrides, config, swept)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / SWEEP_FILE).write_text(json.dumps({
            "parent_run_id": self.parent_id, "experiment_id": exp_id, "uri": store.uri,
            "swept": swept, "sweep_key": key,
        }))
        atexit.register(self.abandon)
        log.info("sweep parent run %s in experiment %r (%s)", self.parent_id, store.experiment, store.uri)

    def _reuse(self, exp_id: str, key: str) -> str | None:
        found = retrying(
            self.client.search_runs, [exp_id],
            filter_string=f"tags.`harness.sweep_key` = '{key}'", order_by=["attributes.start_time DESC"], max_results=1,
        )
        if found and found[0].info.status != "FINISHED":
            run_id = found[0].info.run_id
            retrying(self.client.update_run, run_id, status="RUNNING")
            retrying(self.client.set_tag, run_id, "harness.pid", identity_tags()["harness.pid"])
            log.info("resuming sweep %s: jobs that already finished are skipped (tracking.resume_sweeps=false starts afresh)", run_id)
            return run_id
        return None

    def _create(self, exp_id: str, key: str, overrides: list[str], config: DictConfig, swept: list[str]) -> str:
        name = parent_name(str(config.name), swept)
        tags = {
            "harness.sweep": "parent", "harness.sweep_key": key,
            "harness.overrides": " ".join(overrides)[:5000], "harness.command": " ".join(sys.argv)[:5000],
            **identity_tags(),
        }
        return retrying(self.client.create_run, exp_id, run_name=name[:250], tags=tags).info.run_id

    def end(self, config: DictConfig, jobs: list[dict]) -> None:
        from harness_mlflow.compare import children_of, comparison_artifacts, latest_per_config

        children = children_of(self.client, self.parent_id)
        ok = bool(jobs) and all(j["status"] in ("FINISHED", "SKIPPED") for j in jobs)
        ok = ok and bool(children) and all_configs_finished(children)
        attach_sweep_summary(self.client, self.parent_id, Path(str(config.hydra.sweep.dir)))
        try:
            folder = Path(str(config.hydra.sweep.dir)) / "comparison"
            for path in comparison_artifacts(self.client, latest_per_config(children), folder, title=str(config.name)):
                retrying(self.client.log_artifact, self.parent_id, str(path))
        except Exception:  # the parent's status matters more than its plot
            log.exception("could not draw the sweep comparison")
        status = "FINISHED" if ok else "FAILED"
        retrying(self.client.set_terminated, self.parent_id, status)
        self.done = True
        log.info("sweep parent run %s %s: %d child runs", self.parent_id, status, len(children))

    def abandon(self) -> None:
        """At exit, a parent not closed by :meth:`end` (the launcher died) ends KILLED."""
        if self.parent_id is not None and not self.done:
            try:
                self.client.set_terminated(self.parent_id, "KILLED")
            except Exception:
                pass


_current: SweepParent | None = None


def _tracked(config: DictConfig) -> bool:
    return OmegaConf.select(config, "tracking.backend") == "mlflow"


@hookimpl
def harness_sweep_start(config):
    global _current
    if not _tracked(config):
        return
    _current = SweepParent()
    _current.start(config)


@hookimpl(trylast=True)  # other plugins attach their sweep summaries to the parent first
def harness_sweep_end(config, jobs):
    if _current is not None and _current.parent_id is not None:
        _current.end(config, jobs)

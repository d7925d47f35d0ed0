"""The launching process's side of a multirun sweep, whatever the launcher.

This Hydra callback (configured in ``conf/config.yaml``) brackets the sweep: it calls
the plugins' ``harness_sweep_start`` hook before any job (a tracking plugin creates its
parent run there) and, after the last one, ``harness_compare_runs`` over the jobs (a
report plugin draws the comparison) and ``harness_sweep_end`` with those files. In a
sweep a failing job must not stop the others, so the task function records its outcome
in ``harness_job.json`` in the job's output folder and returns normally; at the end the
callback reads those files, prints one line per failed job and a total, and sets the
exit code ``harness-train -m`` returns: 0 only if every job finished (a diverged job
recorded with ``training.on_divergence=record`` finished).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from harness.jobs import RESULT_FILE, read_results, write_result  # noqa: F401 (the job side uses them from here)
from harness.plugins import call_each, get_plugin_manager
from harness.records import RunRecord, SweepInfo

log = logging.getLogger("harness")
LAUNCHER_PID = "HARNESS_LAUNCHER_PID"
TAGS_FILE = "tags.json"

# Set by the callback in the launching process, read by harness-train's main().
exit_code = 0


def in_launcher_process() -> bool:
    """True when the job runs inside the launching process (Hydra's basic launcher)."""
    return os.environ.get(LAUNCHER_PID) == str(os.getpid())


def swept_keys(task_overrides: list[str], sweeper_params: dict[str, Any] | None) -> tuple[str, ...]:
    """Config keys the sweep varies: overrides with several values, and sweeper params."""
    keys = [o.key_or_group for o in OverridesParser.create().parse_overrides(task_overrides) if o.is_sweep_override()]
    keys += [key.lstrip("+~") for key in (sweeper_params or {})]
    return tuple(dict.fromkeys(keys))


def sweep_info(config: DictConfig) -> SweepInfo:
    overrides = [str(o) for o in config.hydra.overrides.task]
    raw = config.hydra.sweeper.get("params") or {}
    params = OmegaConf.to_container(raw, resolve=False) if isinstance(raw, DictConfig) else dict(raw)
    assert isinstance(params, dict)
    return SweepInfo(
        dir=Path(str(config.hydra.sweep.dir)).resolve(), name=str(config.name), overrides=tuple(overrides),
        swept=swept_keys(overrides, {str(k): v for k, v in params.items()}), config=config,
    )


def summary_files(sweep: SweepInfo) -> tuple[list[Path], dict[str, str]]:
    """What a sweeper or launcher left for the sweep's record: files, and tags."""
    folder = sweep.summary_dir
    if not folder.is_dir():
        return [], {}
    tags: dict[str, str] = {}
    tags_file = folder / TAGS_FILE
    if tags_file.is_file():
        try:
            tags = {str(k): str(v) for k, v in json.loads(tags_file.read_text()).items()}
        except (OSError, ValueError, AttributeError) as exc:
            log.error("ignoring %s: %s", tags_file, exc)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != TAGS_FILE), tags


class SweepSummary(Callback):
    """Summarises the jobs of a sweep and decides the exit code."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global exit_code
        exit_code = 0
        os.environ[LAUNCHER_PID] = str(os.getpid())  # inherited by launcher worker processes
        self.sweep = sweep_info(config)
        _call_each("harness_sweep_start", sweep=self.sweep)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global exit_code
        sweep = getattr(self, "sweep", None) or sweep_info(config)
        jobs = read_results(sweep.dir)
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job.status] = counts.get(job.status, 0) + 1
            if job.status == "SKIPPED":
                log.info("job %s SKIPPED: this configuration already FINISHED in an earlier run of the sweep", _folder(job))
            elif job.status != "FINISHED":
                log.error("job %s %s: %s", _folder(job), job.status, job.error)
            elif job.diverged_step is not None:
                log.info("job %s diverged at step %s (recorded: training.on_divergence=record)", _folder(job), job.diverged_step)
        total = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
        log.info("sweep done: %d jobs (%s); outputs in %s", len(jobs), total or "none recorded", sweep.dir)
        exit_code = 0 if jobs and set(counts) <= {"FINISHED", "SKIPPED"} else 1
        artifacts: list[Path] = []
        for _, answers in _call_each("harness_compare_runs", runs=jobs, folder=sweep.dir / "comparison", title=sweep.name,
                                   metric="val_accuracy"):
            for paths in answers:
                artifacts.extend(Path(p) for p in paths or [])
        left, tags = summary_files(sweep)
        artifacts.extend(left)
        _call_each("harness_sweep_end", sweep=replace(sweep, tags=tags), jobs=jobs, artifacts=artifacts)


def _folder(job: RunRecord) -> str:
    return job.dir.name if job.dir else job.name


def _call_each(hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Every plugin's sweep hook, each on its own: Hydra would turn an exception into a
    warning and skip the rest, and one plugin's failure must not cost another's work."""
    def report(plugin: str, exc: Exception) -> None:
        log.error("plugin %r failed in %s: %s: %s", plugin, hook_name, type(exc).__name__, exc)

    return call_each(hook_name, kwargs, pm=get_plugin_manager(), on_error=report)

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

Ctrl-C (or SIGTERM) on a sweep whose jobs run in worker processes (joblib) must end
every job's run KILLED with a checkpoint, as for a single run, not leave them RUNNING:
the launching process does not let the signal tear the launcher down. It leaves a stop
file for the jobs not started yet, passes the signal on to the running jobs' processes
(found by their run folders' locks) as SIGTERM, waits for them to stop cleanly, prints
one line and exits 128 + the signal's number; the sweep-end hooks are not called (as
when a launcher dies), so a tracker ends its sweep's parent KILLED. A second Ctrl-C stops
at once. With no job running in another process (Hydra's basic launcher between jobs)
the first signal stops the sweep at once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from harness import jobs as job_files
from harness import runlock
from harness.jobs import RESULT_FILE, read_results, write_result  # noqa: F401 (the job side uses them from here)
from harness.plugins import call_each, get_plugin_manager
from harness.records import RunRecord, SweepInfo
from harness.training.interrupts import HANDLED, StopRequested

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


def ignore_signals_between_jobs() -> None:
    """In a launcher's worker process, after a job: SIGINT and SIGTERM are ignored until
    the next job's own guard takes them. A Ctrl-C reaches every process of the group, and
    an idle joblib worker dying of it breaks the pool, which kills the workers still
    stopping their runs; the launching process decides what the sweep does."""
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            signal.signal(signum, signal.SIG_IGN)


class SweepStop:
    """The launching process's SIGINT / SIGTERM handler while a sweep runs (see module docstring)."""

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def running_jobs(self) -> list:
        folders = sorted(path.parent for path in self.sweep_dir.glob(f"*/{runlock.LOCK_FILE}"))
        return runlock.live_holders(folders)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt("second interrupt: stopping the sweep at once")
            return
        self.signum = signum
        job_files.request_stop(self.sweep_dir, signum)  # first: a job starting now sees it
        owners = self.running_jobs()
        if not owners:
            raise StopRequested(signum, when="between the sweep's jobs")
        for owner in owners:
            try:
                os.kill(owner.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        log.warning("%s received: stopping the sweep; %d running job(s) write a checkpoint and end KILLED, "
                    "the others do not start (Ctrl-C again to stop at once)", name, len(owners))


class SweepSummary(Callback):
    """Summarises the jobs of a sweep and decides the exit code."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global exit_code
        exit_code = 0
        os.environ[LAUNCHER_PID] = str(os.getpid())  # inherited by launcher worker processes
        self.sweep = sweep_info(config)
        job_files.clear_stop(self.sweep.dir)
        self.stop = SweepStop(self.sweep.dir)
        self.stop.install()
        _call_each("harness_sweep_start", sweep=self.sweep)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global exit_code
        sweep = getattr(self, "sweep", None) or sweep_info(config)
        stop = getattr(self, "stop", None)
        if stop is not None:
            stop.uninstall()
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
        if stop is not None and stop.signum is not None:
            # Stopped: as when a launcher dies, no comparison and no sweep-end hooks (a tracker
            # ends its parent KILLED); the jobs' runs are closed and resumable.
            exit_code = 128 + stop.signum
            print(f"harness-train: sweep stopped by {signal.Signals(stop.signum).name}: {len(jobs)} jobs "
                  f"({total or 'none recorded'}); outputs in {sweep.dir}", file=sys.stderr)
            return
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

"""``harness-train``: compose an experiment with Hydra and train it.

``harness-train`` trains the default experiment; ``harness-train gd=sgd
optimizer.lr=0.01`` changes it; ``harness-train -m optimizer.lr=0.01,0.1`` sweeps;
``harness-train resume=RUN_ID_OR_DIR`` continues a stopped run. Errors the user can
fix are printed as one line (no traceback). In a sweep a failing job is recorded and
the next job still runs; the sweep's exit code says whether all finished.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.cli import sweep as sweep_report
from harness.errors import ConfigError, HarnessError
from harness.plugins import get_plugin_manager
from harness.records import SweepJob
from harness.resources import config_dir
from harness.threads import workers_of
from harness.training.experiment import run_experiment, run_params
from harness.training.interrupts import StopRequested

log = logging.getLogger("harness")


# Overrides that say where or how a run is recorded, not what it computes: not in its name.
NOT_NAMING = ("hydra.", "hydra/", "paths.", "tracking.", "resume=", "progress=")


def run_name_from_overrides(overrides) -> str | None:
    """``gd=sgd optimizer.lr=0.1``: what makes this job different, readable in the UI."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(NOT_NAMING)]
    return " ".join(kept) or None


def sweep_context(hc) -> SweepJob:
    return SweepJob(dir=Path(hc.sweep.dir).resolve(), job=int(hc.job.num), overrides=tuple(hc.overrides.task),
                    workers=launcher_workers(hc.launcher))


def launcher_workers(launcher) -> int:
    """How many jobs the sweep's launcher runs at once on this machine: joblib's
    ``n_jobs`` (``-1``: one per core); 1 for Hydra's basic launcher, and for launchers
    that place jobs on other machines (SLURM, Ray), where this machine's cores are not shared."""
    target = str((launcher or {}).get("_target_", ""))
    if "joblib" not in target.lower():
        return 1
    n_jobs = launcher.get("n_jobs")
    return workers_of(None if n_jobs is None else int(n_jobs))


def _check_resume_alone(cfg: DictConfig, overrides) -> None:
    """``resume=`` continues a run with the config it started with; other overrides would be lost."""
    if not cfg.get("resume"):
        return
    others = [o for o in overrides if not o.startswith(("resume=", "hydra.", "hydra/", "paths."))]
    if others:
        raise ConfigError(
            f"resume continues a run with its own config; remove the other overrides ({' '.join(others)}) "
            f"or start a new run with them"
        )


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def app(cfg: DictConfig):
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    sweep = sweep_context(hc) if multirun else None
    output_dir = Path(hc.runtime.output_dir)
    name = run_name_from_overrides(hc.overrides.task) or str(cfg.get("name"))

    def record(status: str, error: str = "", result=None) -> None:
        sweep_report.write_result(output_dir, name=name, status=status, error=error, result=result,
                                  params=_params_or_empty(cfg))

    try:
        _check_resume_alone(cfg, hc.overrides.task)
        outcome = run_experiment(cfg, run_name=run_name_from_overrides(hc.overrides.task), sweep=sweep)
    except KeyboardInterrupt as exc:  # StopRequested (a clean stop) or a second Ctrl-C (at once)
        print(f"harness-train: {stopped_line(exc, output_dir)}", file=sys.stderr)
        if not multirun:
            sys.exit(getattr(exc, "exit_code", 130))
        finished = getattr(exc, "finished_run", None)
        if finished is not None:
            record("FINISHED", result=finished)
        else:
            record("KILLED", str(exc) or "interrupted")
        if sweep_report.in_launcher_process():
            exc.reported = True  # type: ignore[attr-defined]  # main() prints nothing more
            raise  # Ctrl-C on a sweep run in this process stops the whole sweep
        sweep_report.ignore_signals_between_jobs()
        return None  # one worker was stopped (preempted, or its sweep is stopping): the launcher decides
    except HarnessError as exc:
        print(f"harness-train: error: {exc}", file=sys.stderr)
        if not multirun:
            sys.exit(exc.exit_code)
        record("FAILED", str(exc))
        return None  # recorded; the sweep goes on
    except Exception as exc:
        if not multirun:
            raise
        log.exception("job failed")
        record("FAILED", f"{type(exc).__name__}: {exc}")
        return None
    result = outcome.result
    if multirun and not sweep_report.in_launcher_process():
        sweep_report.ignore_signals_between_jobs()
    if multirun:
        record("SKIPPED" if result.skipped else "FINISHED", result=result)
    return job_value(result.summary)


def stopped_line(exc: KeyboardInterrupt, output_dir: Path) -> str:
    """What a stopped run says, in one line: why, and what there is to resume from."""
    if getattr(exc, "finished_run", None) is not None:
        return f"{exc}; the run finished and is recorded, stopping here"
    if getattr(exc, "when", None):
        return f"{exc}; nothing was recorded"
    saved = (output_dir / "checkpoint" / "checkpoint.json").is_file()
    if isinstance(exc, StopRequested):
        return f"{exc}; " + (f"a checkpoint is in {output_dir / 'checkpoint'}" if saved else "no checkpoint could be written")
    # A second Ctrl-C: the step in progress was abandoned; the last checkpoint written stays.
    return f"{exc or 'interrupted'}; " + (f"the last checkpoint is in {output_dir / 'checkpoint'}" if saved
                                          else "no checkpoint was written")


def job_value(summary: dict) -> dict:
    """What the task function returns to Hydra (a sweeper reads it): the run's final metrics."""
    return {k: float(v) for k, v in summary.items() if isinstance(v, (int, float))}


def _params_or_empty(cfg: DictConfig) -> dict:
    try:
        return run_params(cfg)
    except Exception:  # an unresolvable config is reported by the run itself
        return {}


def main() -> None:
    failures = list(get_plugin_manager().failures.values())
    stderr = sys.stderr
    if failures:
        sys.stderr = MissingOptionHint(stderr, failures)
    try:
        app()
    except KeyboardInterrupt as exc:  # Ctrl-C outside a run (composing, between a sweep's jobs)
        if not getattr(exc, "reported", False):
            print(f"harness-train: {exc or 'interrupted'}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 130))
    finally:
        sys.stderr = stderr
    sys.exit(sweep_report.exit_code)


class MissingOptionHint:
    """``sys.stderr`` while Hydra runs, when a plugin failed to load.

    Hydra composes the config and prints "Could not find 'optimizer/rmsprop'" itself,
    before anything of harness runs; the option may well be one the broken plugin would
    have added (``harness_register_config_dirs``). That line gets the plugin's name and
    error appended, so the two facts are read together. Everything else passes through.
    """

    PATTERN = re.compile(r"Could not find '[^'\n]+'")

    def __init__(self, stream, failures) -> None:
        self.stream = stream
        if len(failures) == 1:
            self.hint = f"; plugin {failures[0].name} failed to load ({failures[0].error}): it may provide that option"
        else:
            names = ", ".join(f"{f.name} ({f.error})" for f in failures)
            self.hint = f"; plugins {names} failed to load: one may provide that option"

    def write(self, text: str) -> int:
        return self.stream.write(self.PATTERN.sub(lambda m: m.group(0) + self.hint, text, count=1))

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


if __name__ == "__main__":
    main()

"""``harness-train``: compose an experiment with Hydra and train it.

``harness-train`` trains the default experiment; ``harness-train gd=sgd
optimizer.lr=0.01`` changes it; ``harness-train -m optimizer.lr=0.01,0.1`` sweeps;
``harness-train resume=RUN_ID_OR_DIR`` continues a stopped run. Errors the user can
fix are printed as one line (no traceback). In a sweep a failing job is recorded and
the next job still runs; the sweep's exit code says whether all finished.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.cli import sweep as sweep_report
from harness.errors import ConfigError, HarnessError
from harness.resources import config_dir
from harness.training.experiment import run_experiment
from harness.training.interrupts import StopRequested

log = logging.getLogger("harness")


# Overrides that say where or how a run is recorded, not what it computes: not in its name.
NOT_NAMING = ("hydra.", "hydra/", "paths.", "tracking.", "resume=", "progress=")


def run_name_from_overrides(overrides) -> str | None:
    """``gd=sgd optimizer.lr=0.1``: what makes this job different, readable in the UI."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(NOT_NAMING)]
    return " ".join(kept) or None


def sweep_context(hc) -> dict:
    return {
        "dir": str(Path(hc.sweep.dir).resolve()),
        "job": hc.job.num,
        "overrides": list(hc.overrides.task),
        "output_dir": hc.runtime.output_dir,
    }


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
    try:
        _check_resume_alone(cfg, hc.overrides.task)
        run = run_experiment(cfg, run_name=run_name_from_overrides(hc.overrides.task), sweep=sweep)
    except StopRequested as exc:
        if exc.finished_run is not None:
            print(f"harness-train: {exc}; the run finished and is recorded, stopping here", file=sys.stderr)
        else:
            saved = (output_dir / "checkpoint" / "checkpoint.json").is_file()
            where = f"a checkpoint is in {output_dir / 'checkpoint'}" if saved else "no checkpoint could be written"
            print(f"harness-train: {exc}; {where}", file=sys.stderr)
        if not multirun:
            sys.exit(exc.exit_code)
        if exc.finished_run is not None:
            sweep_report.write_result(output_dir, status="FINISHED", test_accuracy=exc.finished_run.summary.get("test_accuracy"))
        else:
            sweep_report.write_result(output_dir, status="KILLED", error=str(exc))
        if sweep_report.in_launcher_process():
            raise  # Ctrl-C on a sweep run in this process stops the whole sweep
        return None  # one worker was stopped (preempted): the others go on
    except HarnessError as exc:
        print(f"harness-train: error: {exc}", file=sys.stderr)
        if not multirun:
            sys.exit(exc.exit_code)
        sweep_report.write_result(output_dir, status="FAILED", error=str(exc))
        return None  # recorded; the sweep goes on
    except Exception as exc:
        if not multirun:
            raise
        log.exception("job failed")
        sweep_report.write_result(output_dir, status="FAILED", error=f"{type(exc).__name__}: {exc}")
        return None
    if multirun:
        status = "SKIPPED" if run.state.get("skipped") else "FINISHED"
        sweep_report.write_result(output_dir, status=status, test_accuracy=run.summary.get("test_accuracy"))
    return run.summary.get("test_accuracy")


def main() -> None:
    app()
    sys.exit(sweep_report.exit_code)


if __name__ == "__main__":
    main()

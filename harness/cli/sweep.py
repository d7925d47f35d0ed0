"""The launching process's side of a multirun sweep, whatever the launcher.

This Hydra callback (configured in ``conf/config.yaml``) brackets the sweep: it calls
the plugins' ``harness_sweep_start`` hook before any job (a tracking plugin creates its
parent run there) and ``harness_sweep_end`` after the last one. In a sweep a failing job
must not stop the others, so the task function records its outcome in
``harness_job.json`` in the job's output folder and returns normally; at the end the
callback reads those files, prints one line per failed job and a total, and sets the
exit code ``harness-train -m`` returns: 0 only if every job finished.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("harness")
RESULT_FILE = "harness_job.json"
LAUNCHER_PID = "HARNESS_LAUNCHER_PID"

# Set by the callback in the launching process, read by harness-train's main().
exit_code = 0


def write_result(output_dir: Path, **outcome) -> dict:
    """Record a job's outcome in its folder; returned too, as the job's value for a sweeper."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RESULT_FILE).write_text(json.dumps(outcome, default=str))
    return outcome


# The summary entries a job reports to the sweep (a search sweeper optimises one of them).
REPORTED = ("best_val_accuracy", "test_accuracy", "test_loss", "diverged")


def reported(summary: dict, ids: dict) -> dict:
    """``best_val_accuracy``, ``test_accuracy``... as plain floats, and the tracked run id."""
    values = {k: float(summary[k]) for k in REPORTED if isinstance(summary.get(k), (int, float))}
    run_id = ids.get("mlflow_run_id") or summary.get("run_id")
    return {**values, **({"run_id": str(run_id)} if run_id else {})}


def read_results(sweep_dir: Path) -> list[dict]:
    results = []
    for path in sorted(sweep_dir.glob(f"*/{RESULT_FILE}")):
        try:
            results.append({"dir": str(path.parent), **json.loads(path.read_text())})
        except (OSError, ValueError):
            results.append({"dir": str(path.parent), "status": "FAILED", "error": "unreadable job result"})
    return results


def in_launcher_process() -> bool:
    """True when the job runs inside the launching process (Hydra's basic launcher)."""
    return os.environ.get(LAUNCHER_PID) == str(os.getpid())


class SweepSummary(Callback):
    """Summarises the jobs of a sweep and decides the exit code."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        global exit_code
        exit_code = 0
        os.environ[LAUNCHER_PID] = str(os.getpid())  # inherited by launcher worker processes
        _call_each("harness_sweep_start", config=config)


    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        global exit_code
        sweep_dir = Path(str(config.hydra.sweep.dir))
        results = read_results(sweep_dir)
        counts: dict[str, int] = {}
        for result in results:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
            if result["status"] == "SKIPPED":
                log.info("job %s SKIPPED: this configuration already FINISHED in an earlier run of the sweep",
                         Path(result["dir"]).name)
            elif result["status"] != "FINISHED":
                log.error("job %s %s: %s", Path(result["dir"]).name, result["status"], result.get("error", ""))
        total = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
        log.info("sweep done: %d jobs (%s); outputs in %s", len(results), total or "none recorded", sweep_dir)
        exit_code = 0 if results and set(counts) <= {"FINISHED", "SKIPPED"} else 1
        _call_each("harness_sweep_end", config=config, jobs=results)


def _call_each(hook_name: str, **kwargs) -> None:
    """Every plugin's sweep hook, each on its own: Hydra would turn an exception into a
    warning and skip the rest, and one plugin's failure must not cost another's work."""
    from harness.plugins import load_plugins

    for impl in reversed(getattr(load_plugins().hook, hook_name).get_hookimpls()):
        try:
            impl.function(**kwargs)
        except Exception as exc:
            log.error("plugin %r failed in %s: %s: %s", impl.plugin_name, hook_name, type(exc).__name__, exc)

"""A sweep job's outcome, as a file in its folder: written by the job, read by the launcher.

Launchers run jobs in the launching process, in worker processes or on other machines
sharing the folder; a file is the one channel all of them have. Each job writes
``harness_job.json`` (atomically) with its name, status, params, summary and history;
the launching process reads them back as :class:`harness.RunRecord` when the sweep ends.

The other way round, a launching process that is stopped (Ctrl-C) leaves
``harness_sweep_stop`` in the sweep's folder: a job that has not started yet reads it
and does not start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.files import atomic_write
from harness.records import RunRecord, RunResult

RESULT_FILE = "harness_job.json"
STOP_FILE = "harness_sweep_stop"


def write_result(output_dir: Path, *, name: str, status: str, error: str = "", result: RunResult | None = None,
                 params: dict[str, str] | None = None) -> None:
    """The job's outcome, for the launching process (any launcher, any machine sharing the folder)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"name": name, "status": status, "error": error, "params": params or {}}
    if result is not None:
        record.update(summary=result.summary, history=result.history, diverged_step=result.diverged_step,
                      stopped_by=result.stopped_by)
    atomic_write(output_dir / RESULT_FILE, json.dumps(record, default=str))


def read_results(sweep_dir: Path) -> list[RunRecord]:
    """Every job's record in a sweep's folder, in job order (folders named by job number sort numerically)."""
    records = []
    paths = sorted(sweep_dir.glob(f"*/{RESULT_FILE}"), key=lambda p: (not p.parent.name.isdigit(), _job_number(p)))
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            records.append(RunRecord(name=path.parent.name, status="FAILED", dir=path.parent, error="unreadable job result"))
            continue
        records.append(RunRecord(
            name=data.get("name") or path.parent.name, status=data.get("status", "FAILED"),
            params=data.get("params", {}), summary=data.get("summary", {}), history=data.get("history", []),
            dir=path.parent, error=data.get("error", ""), diverged_step=data.get("diverged_step"),
        ))
    return records


def _job_number(path: Path) -> int | str:
    name = path.parent.name
    return int(name) if name.isdigit() else name




def request_stop(sweep_dir: Path, signum: int) -> None:
    """Tell the jobs of the sweep in ``sweep_dir`` that have not started not to start."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(sweep_dir / STOP_FILE, str(int(signum)))


def stop_requested(sweep_dir: Path) -> int | None:
    """The signal that stopped the sweep in ``sweep_dir``, or ``None`` if it goes on."""
    try:
        return int((sweep_dir / STOP_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def clear_stop(sweep_dir: Path) -> None:
    """A sweep (re)started in ``sweep_dir`` runs its jobs whatever stopped an earlier one."""
    (sweep_dir / STOP_FILE).unlink(missing_ok=True)

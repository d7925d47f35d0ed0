"""Which process owns a run, so a run whose process is gone can be told from a live one.

Recorded as tags at run start; ``harness runs repair`` compares them with the process
table. On Linux the process start time (from ``/proc``) guards against a recycled pid.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_time(pid: int) -> str | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]  # field 22 of proc(5), counted after the command name
    except (OSError, IndexError):
        return None


def identity_tags() -> dict[str, str]:
    tags = {"harness.host": socket.gethostname(), "harness.pid": str(os.getpid())}
    started = _start_time(os.getpid())
    if started is not None:
        tags["harness.proc_start"] = started
    return {**tags, **scheduler_tags()}


def scheduler_tags() -> dict[str, str]:
    """In a submitit job (``hydra/launcher=submitit_slurm`` or ``submitit_local``): the job
    id and its log files, so a run's output is found from the run (and a SLURM job from
    ``sacct``). Empty anywhere else."""
    executor = os.environ.get("SUBMITIT_EXECUTOR")
    if not executor:
        return {}
    tags = {"harness.submitit.executor": executor}
    try:
        import submitit

        env = submitit.JobEnvironment()
        tags.update({
            "harness.submitit.job_id": str(env.job_id),
            "harness.submitit.stdout": str(Path(env.paths.stdout).resolve()),
            "harness.submitit.stderr": str(Path(env.paths.stderr).resolve()),
        })
    except Exception as exc:  # an unknown executor or submitit version: say so, don't fail the run
        tags["harness.submitit.error"] = f"{type(exc).__name__}: {exc}"[:500]
    return tags


def owner_alive(tags: dict[str, str]) -> bool | None:
    """True/False for a run started on this host; None when it ran elsewhere (unknown)."""
    if tags.get("harness.host") != socket.gethostname() or "harness.pid" not in tags:
        return None
    pid = int(tags["harness.pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    recorded = tags.get("harness.proc_start")
    return recorded is None or _start_time(pid) in (None, recorded)

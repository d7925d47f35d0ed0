"""Which process owns a run, so a run whose process is gone can be told from a live one.

Recorded as tags at run start; ``harness runs repair`` compares them with the process
table, and ``resume=<run id>`` refuses a run whose process still lives. The test itself
is the core's (:class:`harness.ProcessIdentity`), shared with the run folder's lock.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness import ProcessIdentity
from harness import owner_alive as _owner_alive

PREFIX = "harness."


def identity_tags() -> dict[str, str]:
    return {**ProcessIdentity.current().as_dict(PREFIX), **scheduler_tags()}


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
    return _owner_alive(tags, PREFIX)


def live_owner(tags: dict[str, str]) -> str | None:
    """``process N on HOST`` when the run's process is alive and is not this one, else ``None``."""
    owner = ProcessIdentity.from_dict(tags, PREFIX)
    if owner is None or owner.is_current() or owner.alive() is not True:
        return None
    return owner.describe()

"""Which process owns a run, so a run whose process is gone can be told from a live one.

Recorded as tags at run start; ``harness runs repair`` compares them with the process
table, and ``resume=<run id>`` refuses a run whose process still lives. The test itself
is the core's (:class:`harness.ProcessIdentity`), shared with the run folder's lock.
"""

from __future__ import annotations

from harness import ProcessIdentity
from harness import owner_alive as _owner_alive

PREFIX = "harness."


def identity_tags() -> dict[str, str]:
    return ProcessIdentity.current().as_dict(PREFIX)


def owner_alive(tags: dict[str, str]) -> bool | None:
    """True/False for a run started on this host; None when it ran elsewhere (unknown)."""
    return _owner_alive(tags, PREFIX)


def live_owner(tags: dict[str, str]) -> str | None:
    """``process N on HOST`` when the run's process is alive and is not this one, else ``None``."""
    owner = ProcessIdentity.from_dict(tags, PREFIX)
    if owner is None or owner.is_current() or owner.alive() is not True:
        return None
    return owner.describe()

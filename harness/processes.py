"""Which process owns something, and whether that process still lives.

A run folder, a tracking run, a temporary download: each records the identity of the
process that owns it (host, pid and, on Linux, the process's start time from
``/proc``), so that another process can tell a live owner from one that is gone
(SIGKILL, out of memory, power loss) without a daemon or a lease. The start time
guards against a recycled pid. This is the one liveness test of the harness: the run
lock (:mod:`harness.runlock`) and the tracking plugin's ``harness runs repair`` use it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat``
    field 22), or ``None`` when it is unknown (no such process, no ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]  # field 22 of proc(5), counted after the command name
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as other processes can find it again: host, pid, start time."""

    host: str
    pid: int
    start: str | None = None

    @classmethod
    def current(cls) -> ProcessIdentity:
        """This process."""
        return cls(socket.gethostname(), os.getpid(), process_start_time(os.getpid()))

    def is_current(self) -> bool:
        return self.host == socket.gethostname() and self.pid == os.getpid()

    def alive(self) -> bool | None:
        """True or False for a process of this host; ``None`` when it ran elsewhere (unknown)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # it exists, owned by another user
            pass
        except (OverflowError, ValueError):
            return False
        return self.start is None or process_start_time(self.pid) in (None, self.start)

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"

    # ------------------------------------------------------------ as key/value pairs

    def as_dict(self, prefix: str = "") -> dict[str, str]:
        """``{prefix+"host": ..., prefix+"pid": ..., prefix+"proc_start": ...}`` (tags, JSON)."""
        values = {f"{prefix}host": self.host, f"{prefix}pid": str(self.pid)}
        if self.start is not None:
            values[f"{prefix}proc_start"] = self.start
        return values

    @classmethod
    def from_dict(cls, values: dict, prefix: str = "") -> ProcessIdentity | None:
        """The identity :meth:`as_dict` wrote, or ``None`` when it is missing or malformed."""
        try:
            host, pid = values[f"{prefix}host"], int(values[f"{prefix}pid"])
        except (KeyError, TypeError, ValueError):
            return None
        start = values.get(f"{prefix}proc_start")
        return cls(str(host), pid, None if start is None else str(start))


def owner_alive(values: dict, prefix: str = "") -> bool | None:
    """Is the process recorded in ``values`` (as :meth:`ProcessIdentity.as_dict` wrote it)
    alive? ``None`` when it ran on another host or nothing is recorded (unknown)."""
    identity = ProcessIdentity.from_dict(values, prefix)
    return None if identity is None else identity.alive()

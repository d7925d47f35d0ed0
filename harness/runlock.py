"""A run folder's owner, in a small file: the process that trains in it, while it lives.

A run writes ``harness.lock`` (its host, pid and process start time) into its output
folder when it starts and removes it when it ends; a run that resumes from another run's
folder claims that folder too. A second process claiming a folder whose owner is alive
is refused in one line (resuming a run that is still training would interleave two
histories in one record). A lock left by a process that is gone (SIGKILL, power loss)
is stale and simply taken over: the liveness test is :mod:`harness.processes`', with the
process start time guarding against a recycled pid. The check and the write happen
under ``flock`` so two processes claiming at once cannot both win.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import HarnessError
from harness.processes import ProcessIdentity

LOCK_FILE = "harness.lock"


class FolderInUse(HarnessError):
    """A run folder is owned by a process that is still alive."""


def holder(folder: Path) -> ProcessIdentity | None:
    """The process holding ``folder`` if it is alive, or could be (another host); else ``None``."""
    owner = _read(Path(folder) / LOCK_FILE)
    if owner is None or owner.is_current() or owner.alive() is False:
        return None
    return owner


def claim(folder: Path, what: str = "run folder") -> None:
    """Make this process the owner of ``folder``; :class:`FolderInUse` if a live process is.

    Re-claiming a folder this process holds is fine (a resumed run writing where it read).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    me = ProcessIdentity.current()
    with _locked(path) as fd:
        owner = _parse(os.pread(fd, 4096, 0))
        if owner is not None and not owner.is_current() and owner.alive() is not False:
            unknown = owner.alive() is None
            raise FolderInUse(
                f"{what} {folder} is in use by {owner.describe()}"
                + (" (another host: remove " + str(path) + " if that process is gone)" if unknown
                   else " (still running): stop it first or wait for it to end")
            )
        payload = json.dumps({**me.as_dict(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, payload, 0)
        os.fsync(fd)


def release(folder: Path) -> None:
    """Remove ``folder``'s lock if this process holds it (never another process's)."""
    path = Path(folder) / LOCK_FILE
    try:
        with _locked(path, create=False) as fd:
            owner = _parse(os.pread(fd, 4096, 0))
            if owner is not None and owner.is_current():
                path.unlink(missing_ok=True)
    except FileNotFoundError:
        pass
    except OSError:
        pass  # a read-only or vanished folder: nothing this process can tidy


@contextlib.contextmanager
def holding(*folders: Path, what: str = "run folder") -> Iterator[None]:
    """Own every folder of ``folders`` (``None`` entries skipped) for the duration."""
    claimed: list[Path] = []
    try:
        for folder in folders:
            if folder is not None:
                claim(folder, what)
                claimed.append(folder)
        yield
    finally:
        for folder in reversed(claimed):
            release(folder)


def live_holders(folders: list[Path]) -> list[ProcessIdentity]:
    """The live owners (other than this process) of the given folders' locks."""
    found = []
    for folder in folders:
        owner = holder(folder)
        if owner is not None and owner.alive():
            found.append(owner)
    return found


@contextlib.contextmanager
def _locked(path: Path, create: bool = True) -> Iterator[int]:
    """An open descriptor of ``path`` under an exclusive ``flock``, on the file that is
    at ``path`` now (a lock removed while we waited for it is opened again)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks, the liveness test alone
        fcntl = None  # type: ignore[assignment]
    while True:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield fd
                return
            if not create:
                raise FileNotFoundError(path)
        finally:
            os.close(fd)  # also releases the flock


def _read(path: Path) -> ProcessIdentity | None:
    try:
        return _parse(path.read_bytes())
    except OSError:
        return None


def _parse(data: bytes) -> ProcessIdentity | None:
    try:
        values = json.loads(data.decode() or "null")
    except (UnicodeDecodeError, ValueError):
        return None
    return ProcessIdentity.from_dict(values) if isinstance(values, dict) else None

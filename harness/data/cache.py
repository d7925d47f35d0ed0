"""The on-disk data cache: where it lives, atomic writes, SHA-256 checks.

Every data file the harness keeps is written through :func:`atomic_write`, so a crash,
a full disk or an interrupt never leaves a half-written file under its real name, and
every file is checked against a pinned digest with :func:`verify_sha256` before use.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

from harness.errors import DataError

ENV_VAR = "HARNESS_DATA_DIR"
"""Environment variable that moves the cache root (an explicit root still wins)."""

_CHUNK = 1 << 20


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()
"""mkstemp creates 0600 files; cached data gets the usual umask-derived mode instead."""

Writer = Callable[[BinaryIO], object]
Payload = Union[bytes, bytearray, memoryview, Writer]


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache root: explicit ``root``, else ``$HARNESS_DATA_DIR``, else
    ``~/.cache/harness``. An empty string counts as unset."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR, "")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "harness"


def describe_os_error(exc: OSError) -> str:
    """A short, single-line reason for an OS error."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "no space left on device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    text = exc.strerror or str(exc) or type(exc).__name__
    return " ".join(text.split())


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (with parents) and check it is a writable directory.

    The cache is useless if it cannot be written, so fail early with a message that
    says how to point the harness elsewhere.
    """
    path = Path(path)
    hint = f"set {ENV_VAR} or data.root to a writable directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"{path}: cannot use as data directory: a file is in the way; {hint}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot create data directory: {describe_os_error(exc)}; {hint}") from None
    if not path.is_dir():
        raise DataError(f"{path}: cannot use as data directory: not a directory; {hint}")
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataError(f"{path}: data directory is not writable; {hint}")
    return path


def atomic_write(path: str | os.PathLike[str], data_or_writer: Payload) -> Path:
    """Write ``path`` all-or-nothing: temp file in the same directory, fsync, rename.

    ``data_or_writer`` is either the bytes to write or a callable that receives the
    open binary temp file. The temp file is removed on any failure (including
    KeyboardInterrupt); the target is either the old file or the complete new one.
    OS errors become one-line :class:`DataError` naming the path; exceptions raised by
    a writer callable propagate unchanged after cleanup.
    """
    path = Path(path)
    ensure_dir(path.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise DataError(f"{path}: cannot write: {describe_os_error(exc)}") from None
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            if callable(data_or_writer):
                data_or_writer(handle)
            else:
                handle.write(data_or_writer)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise DataError(f"{path}: cannot write: {describe_os_error(exc)}") from None
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself; best effort (not every platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Hex SHA-256 of an in-memory payload."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks so large files need little memory."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {describe_os_error(exc)}") from None
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str) -> str:
    """Check ``path`` against a pinned digest; return the digest or raise DataError."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise DataError(f"{path}: SHA-256 mismatch: expected {expected.lower()}, got {actual}")
    return actual

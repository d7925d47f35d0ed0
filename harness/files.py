"""Files written all-or-nothing, and their digests.

Every file the harness and its built-in plugins keep (checkpoints, cached data, exported
models, job results) goes through :func:`atomic_write`: a crash, a full disk or an
interrupt leaves either the old file or the complete new one under the real name, never
a truncated one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Writer = Callable[[BinaryIO], object]
Payload = bytes | bytearray | memoryview | str | Writer
_CHUNK = 1 << 20


CACHE_ENV = "HARNESS_DATA_DIR"


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Where harness and its plugins cache downloads and builds: an explicit ``root``
    (a dataset's ``root`` option), else ``$HARNESS_DATA_DIR``, else the user cache folder
    (``~/.cache/harness`` on Linux, following ``$XDG_CACHE_HOME``). Empty strings count
    as unset. A plugin keeps its files in a sub-folder named after itself."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(CACHE_ENV, "")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("harness", appauthor=False))


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # mkstemp creates 0600 files; ours get the usual mode


def atomic_write(path: str | os.PathLike[str], payload: Payload) -> Path:
    """Write ``path`` all-or-nothing: a temporary file in the same folder, fsync, rename.

    ``payload`` is the bytes (or text, UTF-8) to write, or a callable that receives the
    open binary temporary file. The temporary file is removed on any failure (including
    ``KeyboardInterrupt``) and the exception propagates: ``OSError`` for the disk (see
    :func:`describe_os_error`), anything a writer callable raises unchanged.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            if callable(payload):
                payload(handle)
            else:
                handle.write(payload.encode() if isinstance(payload, str) else payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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


def describe_os_error(exc: OSError) -> str:
    """A short, single-line reason for an OS error (``no space left on device``)."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "no space left on device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    text = exc.strerror or str(exc) or type(exc).__name__
    return " ".join(text.split())


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks (raises ``OSError`` if unreadable)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()

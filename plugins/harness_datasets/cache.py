"""The on-disk data cache: where it lives, atomic writes, SHA-256 checks.

Every data file the harness keeps is written through :func:`atomic_write`, so a crash,
a full disk or an interrupt never leaves a half-written file under its real name, and
every file is checked against a pinned digest with :func:`verify_sha256` before use.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import harness
from harness import DataError, describe_os_error

ENV_VAR = "HARNESS_DATA_DIR"
"""Environment variable that moves the cache root (an explicit root still wins)."""


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache root (:func:`harness.cache_root`): explicit ``root``, else
    ``$HARNESS_DATA_DIR``, else ``~/.cache/harness``."""
    return harness.cache_root(root)


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


def atomic_write(path: str | os.PathLike[str], payload: Any) -> Path:
    """:func:`harness.atomic_write` into the cache: the folder is created and checked
    first, and a disk error is a one-line :class:`DataError` naming the file."""
    path = Path(path)
    ensure_dir(path.parent)
    try:
        return harness.atomic_write(path, payload)
    except OSError as exc:
        raise DataError(f"{path}: cannot write: {describe_os_error(exc)}") from None


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    """Hex SHA-256 of an in-memory payload."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks; an unreadable file is a one-line DataError."""
    try:
        return harness.sha256_file(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {describe_os_error(exc)}") from None


def verify_sha256(path: str | os.PathLike[str], expected: str) -> str:
    """Check ``path`` against a pinned digest; return the digest or raise DataError."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise DataError(f"{path}: SHA-256 mismatch: expected {expected.lower()}, got {actual}")
    return actual

"""What this process already knows about the data cache: files verified, arrays read.

A sweep runs many jobs in one process (Hydra's basic launcher) or in a few reused
worker processes (joblib), and each job used to hash the 55 MB of MNIST images again and
parse them again: 0.1–0.3 s a job, more than a tiny job's training. Cached files are
only ever replaced by a rename (:func:`harness_datasets.sources.install`), never
rewritten in place, so a file whose identity — device, inode, size, modification and
change times — is what it was when it was verified still holds the verified bytes.
Small files (the labels) are hashed every time anyway: it costs nothing, and an edit of
one in place is noticed however coarse the file system's clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

HASH_ALWAYS_BELOW = 1 << 20  # bytes
KEEP_ARRAYS = 2              # datasets whose arrays stay in memory (MNIST ~55 MB each)
T = TypeVar("T")
_verified: dict[str, tuple] = {}
_arrays: dict[tuple, object] = {}


def identity(path: str | os.PathLike[str]) -> tuple[int, ...]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def already_verified(path: Path, sha256: str, size: int) -> bool:
    """True when this process hashed ``path`` (a large file) to ``sha256`` and it is unchanged."""
    if size < HASH_ALWAYS_BELOW:
        return False
    known = _verified.get(str(path))
    try:
        return known is not None and known == (identity(path), sha256)
    except OSError:
        return False


def verified(path: Path, sha256: str) -> None:
    """``path`` was just hashed to ``sha256``."""
    try:
        _verified[str(path)] = (identity(path), sha256)
    except OSError:
        _verified.pop(str(path), None)


def arrays(paths: Mapping[str, Path], read: Callable[[], T]) -> T:
    """``read()``'s result for these files, read once per process while they are unchanged.

    The caller makes what it returns read-only: every job of the process shares it."""
    key = tuple(sorted((name, identity(path)) for name, path in paths.items()))
    if key not in _arrays:
        while len(_arrays) >= KEEP_ARRAYS:
            _arrays.pop(next(iter(_arrays)))
        _arrays[key] = read()
    return _arrays[key]  # type: ignore[return-value]

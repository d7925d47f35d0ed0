"""A restricted unpickler that can rebuild NumPy arrays and nothing else.

Unpickling runs whatever callables the pickle names, so a data file from the network
must never reach :func:`pickle.load`. :class:`RestrictedUnpickler` resolves only the
handful of globals NumPy array reconstruction needs; any other global (``os.system``,
``builtins.eval``, ...) is refused before it can be called. Python-2 pickles (such as
Nielsen's ``mnist.pkl.gz``) are read with ``encoding="latin1"`` so their byte strings
come back as the raw array buffers NumPy expects.
"""

from __future__ import annotations

import io
import pickle
from typing import Protocol

import numpy as np

from harness import DataError

try:  # NumPy 2 moved the implementation to numpy._core.
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
"""The only globals a pickle may name, mapped straight to the objects (no import)."""

_NUMERIC_KINDS = "biuf"
_MAX_DEPTH = 32


class Readable(Protocol):
    """What unpickling reads from: a binary file, a ``GzipFile``, a ``BytesIO``."""

    def read(self, n: int, /) -> bytes: ...

    def readline(self) -> bytes: ...


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` admits only NumPy array reconstruction."""

    def __init__(self, file: Readable, origin: str) -> None:
        super().__init__(file, encoding="latin1")
        self.origin = origin

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.origin}: refused to unpickle global {module}.{name}; "
                "only NumPy array reconstruction (numpy.ndarray, numpy.dtype, _reconstruct) is admitted"
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise DataError(f"{self.origin}: refused persistent id in pickle; only plain NumPy arrays are admitted")


def safe_load(file: Readable, origin: str) -> object:
    """Unpickle from ``file`` with :class:`RestrictedUnpickler`, then check the result.

    The result may only be nested tuples/lists of numeric arrays and plain scalars;
    any failure is a one-line DataError naming ``origin``.
    """
    try:
        obj = RestrictedUnpickler(file, origin).load()
    except DataError:
        raise
    except Exception as exc:  # corrupt pickles raise many different types
        detail = " ".join(str(exc).split()) or "no detail"
        raise DataError(f"{origin}: corrupt or unsupported pickle ({type(exc).__name__}: {detail})") from None
    _check_plain(obj, origin, 0)
    return obj


def safe_loads(data: bytes, origin: str) -> object:
    """Like :func:`safe_load` for an in-memory pickle."""
    return safe_load(io.BytesIO(data), origin)


def _check_plain(obj: object, origin: str, depth: int) -> None:
    """Reject object arrays and anything that is not a container of numeric arrays."""
    if depth > _MAX_DEPTH:
        raise DataError(f"{origin}: pickle nests deeper than {_MAX_DEPTH} levels")
    if isinstance(obj, (tuple, list)):
        for item in obj:
            _check_plain(item, origin, depth + 1)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _NUMERIC_KINDS:
            raise DataError(f"{origin}: pickle holds an array of dtype {obj.dtype}; only numeric arrays are admitted")
    elif obj is not None and not isinstance(obj, (bool, int, float, str, bytes)):
        raise DataError(f"{origin}: pickle holds a {type(obj).__name__}; only numeric arrays are admitted")

"""Reader and writer for the canonical MNIST IDX format.

Only the two layouts MNIST and Fashion-MNIST use are accepted: unsigned-byte images
(magic 2051, three big-endian uint32 dims) and unsigned-byte labels (magic 2049, one
dim), plain or gzip-compressed. Anything else is rejected with a one-line
:class:`~harness.errors.DataError`, because a silently mis-read data file turns into a
model that trains on garbage.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from harness import DataError
from harness_datasets.cache import atomic_write, describe_os_error

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
GZIP_MAGIC = b"\x1f\x8b"

_MAGIC_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
_KIND_MAGIC = {kind: magic for magic, kind in _MAGIC_KIND.items()}
_KIND_NDIM = {"images": 3, "labels": 1}


def gunzip(data: bytes, origin: str, limit: int | None = None) -> bytes:
    """Decompress gzip ``data``; corrupt or truncated streams become DataError.

    ``limit`` caps the decompressed size so a hostile file cannot exhaust memory.
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read() if limit is None else stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{origin}: corrupt gzip data ({detail})") from None
    if limit is not None and len(out) > limit:
        raise DataError(f"{origin}: gzip data decompresses to more than the expected {limit} bytes")
    return out


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in _KIND_MAGIC:
        raise ValueError(f"kind must be None, 'images' or 'labels', not {kind!r}")


def parse_idx(data: bytes, origin: str, kind: str | None = None) -> np.ndarray:
    """Decode the bytes of an uncompressed IDX file (``origin`` names it in errors)."""
    _check_kind(kind)
    if len(data) < 4:
        raise DataError(f"{origin}: truncated IDX header: {len(data)} bytes, need at least 4 for the magic number")
    (magic,) = struct.unpack(">I", data[:4])
    found = _MAGIC_KIND.get(magic)
    if found is None:
        raise DataError(
            f"{origin}: bad magic number {magic}; expected {IMAGES_MAGIC} (images) or {LABELS_MAGIC} (labels)"
        )
    if kind is not None and found != kind:
        raise DataError(
            f"{origin}: expected {kind} (magic {_KIND_MAGIC[kind]}) but found {found} (magic {magic})"
        )
    ndim = _KIND_NDIM[found]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{origin}: truncated IDX header: {len(data)} bytes, {found} need {header} (magic + {ndim} dims)"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(dims)  # Python ints: a crafted header cannot wrap around to a small size
    actual = len(data) - header
    shape = "x".join(str(d) for d in dims)
    if actual < expected:
        raise DataError(f"{origin}: truncated: payload has {actual} bytes, header dims {shape} need {expected}")
    if actual > expected:
        raise DataError(
            f"{origin}: {actual - expected} trailing bytes after the {expected}-byte payload of dims {shape}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: str | os.PathLike[str], kind: str | None = None) -> np.ndarray:
    """Read an IDX file, plain or gzip (detected by its magic bytes, not its name).

    ``kind="images"`` or ``"labels"`` also rejects a file of the other kind.
    Returns a writable uint8 array of the header's shape.
    """
    _check_kind(kind)
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file: {describe_os_error(exc)}") from None
    if data[:2] == GZIP_MAGIC:
        data = gunzip(data, str(path))
    return parse_idx(data, str(path), kind)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array of 3 dims (images) or 1 dim (labels) as IDX bytes."""
    array = np.asarray(array)
    magic = {3: IMAGES_MAGIC, 1: LABELS_MAGIC}.get(array.ndim)
    if array.dtype != np.uint8 or magic is None:
        raise DataError(
            f"cannot encode {array.dtype} array of shape {array.shape} as IDX; "
            "accepted: uint8 with 3 dims (images) or 1 dim (labels)"
        )
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an uncompressed IDX file, atomically."""
    try:
        payload = encode_idx(array)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return atomic_write(path, payload)


def check_counts(images: np.ndarray, labels: np.ndarray, split: str) -> None:
    """Reject a split whose image and label files disagree on the number of items."""
    if len(images) != len(labels):
        raise DataError(f"{split}: {len(images)} images but {len(labels)} labels; the counts must match")

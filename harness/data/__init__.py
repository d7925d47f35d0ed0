"""Datasets read from canonical IDX files, cached and SHA-256 verified.

``fetch(name)`` makes sure a dataset's files are in the cache and returns their paths
(what ``harness data fetch NAME`` runs); ``load(name)`` also reads them into uint8
arrays. Both accept ``root`` (else ``$HARNESS_DATA_DIR``, else ``~/.cache/harness``)
and an optional list of mirror base URLs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from harness.data.cache import cache_root
from harness.data.fashion_mnist import fetch_fashion_mnist, load_fashion_mnist
from harness.data.mnist import MnistArrays, fetch_mnist, load_mnist
from harness.errors import DataError

_DATASETS: dict[str, tuple[Callable[..., dict[str, Path]], Callable[..., MnistArrays]]] = {
    "mnist": (fetch_mnist, load_mnist),
    "fashion_mnist": (fetch_fashion_mnist, load_fashion_mnist),
}

DATASET_NAMES = tuple(_DATASETS)


def _lookup(name: str):
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    try:
        return _DATASETS[key]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset {name!r}; accepted: {', '.join(DATASET_NAMES)}") from None


def fetch(
    name: str, root: str | os.PathLike[str] | None = None, mirrors: Sequence[str] | None = None
) -> dict[str, Path]:
    """Obtain and verify a dataset's IDX files in the cache; return ``{file name: path}``."""
    return _lookup(name)[0](root=root, mirrors=mirrors)


def load(name: str, root: str | os.PathLike[str] | None = None, mirrors: Sequence[str] | None = None) -> MnistArrays:
    """Fetch if needed, then read a dataset as uint8 arrays."""
    return _lookup(name)[1](root=root, mirrors=mirrors)


__all__ = [
    "DATASET_NAMES",
    "MnistArrays",
    "cache_root",
    "fetch",
    "fetch_fashion_mnist",
    "fetch_mnist",
    "load",
    "load_fashion_mnist",
    "load_mnist",
]

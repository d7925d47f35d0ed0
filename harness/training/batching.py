"""Batching modes of gradient descent as index streams.

Full-batch, stochastic (one sample) and mini-batch descent differ only in how many
examples each step sees; the loop is the same. Shuffling uses the run's seeded
generator, so the order of examples is part of what a seed reproduces.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator, shuffle: bool) -> Iterator[slice | np.ndarray]:
    """Index selections covering ``range(n)`` once, ``batch_size`` at a time.

    A single full batch is yielded as a slice (a view, no copy): shuffling it would
    not change the gradient.
    """
    if batch_size >= n:
        yield slice(0, n)
        return
    if not shuffle:
        for start in range(0, n, batch_size):
            yield slice(start, start + batch_size)
        return
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def gather_rows(x: np.ndarray, index: slice | np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``x[index]``, written into the first ``len(index)`` rows of ``out`` when given.

    One copy and no allocation per step: a batch of 128 rows of 784 floats is 400 kB, and a fresh
    array each step costs page faults. ``mode="clip"`` is only there because
    ``np.take(..., out=)`` with the default ``"raise"`` copies twice (into a temporary,
    then into ``out``) to leave ``out`` untouched on a bad index; the indices here come
    from a permutation of ``range(len(x))`` and are always valid. A slice is returned as
    a view.
    """
    if isinstance(index, slice) or out is None:
        return x[index]
    return np.take(x, index, axis=0, out=out[: len(index)], mode="clip")


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)

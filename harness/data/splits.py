"""Train / validation / test arrays, and the held-out validation split.

The 10k test set is scored once per reported result; model selection and early
stopping look only at the validation split carved out of the training set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Splits:
    """Features as ``(n, features)`` arrays, labels as integer class indices."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    # ``augment(batch, rng) -> batch``: a random transformation of training batches only.
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_y), "val": len(self.val_y), "test": len(self.test_y)}

    def astype(self, dtype) -> "Splits":
        """The same splits with features in ``dtype`` (labels untouched)."""
        return Splits(
            self.train_x.astype(dtype, copy=False), self.train_y,
            self.val_x.astype(dtype, copy=False), self.val_y,
            self.test_x.astype(dtype, copy=False), self.test_y, self.augment,
        )


def holdout(x: np.ndarray, y: np.ndarray, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off ``val_size`` examples chosen by a seeded permutation.

    The permutation depends only on ``seed`` and ``len(y)``, so every run of a sweep
    validates on the same examples.
    """
    order = np.random.default_rng(seed).permutation(len(y))
    val_idx, train_idx = np.sort(order[:val_size]), np.sort(order[val_size:])
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]

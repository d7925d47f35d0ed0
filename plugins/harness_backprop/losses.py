"""Losses: a mean over the batch, and its gradient with respect to the model outputs."""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness_backprop.scratch import Scratch


class SoftmaxCrossEntropy:
    """Softmax and cross-entropy fused, on logits ``Z``.

    ``L = mean_i(logΣ_j e^{Z_ij} − Σ_j T_ij Z_ij)``, with the log-sum-exp taken after
    subtracting the row maximum so no exponent overflows, and ``T`` the one-hot labels
    (or, with ``label_smoothing`` ε, ``(1−ε)·onehot + ε/K``). Fusing the two gives the
    famous shortcut ``dZ = (A − T) / m``, with ``A`` the softmax probabilities: no
    Jacobian of the softmax is ever formed.
    """

    kind = "softmax_cross_entropy"
    check_variants = [{"label_smoothing": 0.1}]  # harness check verifies the smoothed loss too

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = v.number("label_smoothing", label_smoothing, low=0, high=1, high_open=True)
        self._scratch = Scratch()

    def forward(self, z: np.ndarray, y: np.ndarray) -> float:
        rows = self._rows(len(y))
        eps = self.label_smoothing
        # ufunc reductions called directly: np.max / np.sum / .sum() are Python wrappers
        # around these very calls, and with ten classes the wrappers cost more than the work
        get, column = self._scratch.get, (len(z), 1)
        row_max = np.maximum.reduce(z, axis=1, keepdims=True, out=get("max", column, z.dtype))
        shifted = np.subtract(z, row_max, out=get("probs", z.shape, z.dtype))
        picked = np.add.reduce(shifted[rows, y])
        if eps:
            picked = (1 - eps) * picked + eps / z.shape[1] * np.add.reduce(shifted, axis=None)
        probs = np.exp(shifted, out=shifted)
        total = np.add.reduce(probs, axis=1, keepdims=True, out=get("total", column, z.dtype))
        loss = (np.add.reduce(np.log(total, out=get("log_total", column, z.dtype)), axis=None) - picked) / len(y)
        np.divide(probs, total, out=probs)
        self.probs, self.y, self.rows = probs, y, rows
        return float(loss)

    def backward(self) -> np.ndarray:
        dz = self.probs  # A − T, in place: the probabilities are not needed again
        eps = self.label_smoothing
        if eps:
            dz -= eps / dz.shape[1]
        dz[self.rows, self.y] -= 1.0 - eps
        dz *= 1.0 / len(self.y)
        return dz

    def _rows(self, n: int) -> np.ndarray:
        """``arange(n)``, kept between calls: every full batch has the same size."""
        rows = getattr(self, "_cached_rows", None)
        if rows is None or len(rows) != n:
            rows = self._cached_rows = np.arange(n)
        return rows


class MeanSquaredError:
    """``mean((A − Y)²)`` over every output of every example, ``Y`` one-hot."""

    kind = "mse"

    def forward(self, outputs: np.ndarray, y: np.ndarray) -> float:
        target = np.zeros_like(outputs)
        target[np.arange(len(y)), y] = 1.0
        self.diff = outputs - target
        return float(np.mean(self.diff * self.diff))

    def backward(self) -> np.ndarray:
        return self.diff * (2.0 / self.diff.size)

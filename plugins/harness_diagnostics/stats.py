"""Numbers that say whether a layer passes signal and gradient along.

* **dead ReLU fraction**: units that are not positive for any example of the probe
  batch. Such a unit passes no gradient to its weights (a leaky ReLU passes only
  ``alpha`` of it) and, once there, rarely comes back.
* **saturated fraction** (sigmoid, tanh): outputs where the derivative has fallen below
  5 % of its peak (sigmoid ``s(1−s) < 0.0125``, i.e. ``s`` within 0.0127 of 0 or 1;
  tanh ``1 − t² < 0.05``, i.e. ``|t| > 0.975``). Backward, such a unit multiplies the
  gradient by less than a twentieth.
* **activation mean and standard deviation** of every layer's output: a standard
  deviation shrinking layer after layer is the forward face of a vanishing gradient.
"""

from __future__ import annotations

import math

import numpy as np

SATURATION = 0.05  # a derivative below this fraction of its maximum counts as saturated
RELU_KINDS = ("relu", "leaky_relu")
SIGMOID_LIMIT = 0.5 * (1.0 - math.sqrt(1.0 - SATURATION))  # s(1-s) = SATURATION/4
TANH_LIMIT = math.sqrt(1.0 - SATURATION)                    # 1 - t^2 = SATURATION


def norm(array) -> float:
    """Euclidean (Frobenius) norm as a float; ``nan`` passes through.

    One BLAS dot product in the array's own dtype (no float64 copy of a float32 weight
    matrix); only when that overflows is it redone in float64, so an exploding gradient
    reads as its true size rather than ``inf`` for as long as float64 can hold it.
    """
    flat = np.asarray(array).reshape(-1)
    total = float(np.dot(flat, flat))
    if math.isinf(total) and flat.dtype != np.float64:
        flat = flat.astype(np.float64)
        total = float(np.dot(flat, flat))
    return math.sqrt(total)


def activation_stats(kind: str | None, out: np.ndarray) -> dict[str, float]:
    """``mean`` and ``std`` of a layer's output, plus ``dead`` or ``saturated`` where they apply."""
    out = np.asarray(out)
    stats = {"mean": float(out.mean()), "std": float(out.std())}
    if kind in RELU_KINDS:
        stats["dead"] = dead_fraction(out)
    elif kind in ("sigmoid", "tanh"):
        stats["saturated"] = saturated_fraction(kind, out)
    return stats


def dead_fraction(out: np.ndarray) -> float:
    """Fraction of units (columns) never positive over the batch."""
    alive = np.any(out > 0, axis=0)
    return float(1.0 - np.count_nonzero(alive) / alive.size)


def saturated_fraction(kind: str, out: np.ndarray) -> float:
    """Fraction of a sigmoid's or tanh's outputs whose derivative is below ``SATURATION`` of its peak."""
    if kind == "sigmoid":
        flat = (out < SIGMOID_LIMIT) | (out > 1.0 - SIGMOID_LIMIT)
    elif kind == "tanh":
        flat = np.abs(out) > TANH_LIMIT
    else:
        raise ValueError(f"no saturation for {kind!r}; sigmoid and tanh saturate")
    return float(np.count_nonzero(flat) / flat.size)


def update_ratio(before: np.ndarray, after: np.ndarray) -> float:
    """``||Δw|| / ||w||`` for one optimizer step: around 1e-3 is healthy, far below is a
    layer that does not learn, near 1 one that is thrown around."""
    size = norm(before)
    change = norm(np.asarray(after, dtype=np.float64) - before)
    return change / size if size > 0 else math.inf if change > 0 else 0.0

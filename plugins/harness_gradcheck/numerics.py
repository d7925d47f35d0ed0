"""Small numerical helpers every checker shares."""

from __future__ import annotations

import numpy as np


def relative_error(analytic, numeric) -> float:
    """``||a − n|| / (||a|| + ||n||)``, and 0 when both are exactly zero.

    Scale-free, so one tolerance serves a weight matrix and a bias vector; bounded by
    1 for opposite vectors. Non-finite values give NaN, which fails every tolerance.
    """
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shapes differ: {analytic.shape} vs {numeric.shape}")
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if denominator == 0:
        return 0.0
    if not np.isfinite(denominator):
        return float("nan")
    return float(np.linalg.norm(analytic - numeric) / denominator)


def away_from_zero(rng: np.random.Generator, shape, margin: float = 0.1) -> np.ndarray:
    """Standard normals pushed at least ``margin`` from 0, so no ReLU kink sits inside a step."""
    z = rng.standard_normal(shape)
    return np.sign(z) * (margin + np.abs(z))


def replay_randomness(layer, seed: int) -> None:
    """Stochastic layers (dropout) draw the same mask for every evaluation of a check."""
    if hasattr(layer, "reseed"):
        layer.reseed(seed)


def check_points(rng: np.random.Generator, batch: int, dim: int):
    """The input batch every layer check uses: shared so the checkers see the same point."""
    return away_from_zero(rng, (batch, dim))


def loss_points(rng: np.random.Generator, batch: int, num_classes: int):
    """Outputs and integer labels for a loss check."""
    outputs = rng.standard_normal((batch, num_classes))
    labels = rng.integers(0, num_classes, batch)
    return outputs, labels

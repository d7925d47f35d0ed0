"""Gradient clipping by global norm: one scale factor for all gradients together.

Scaling every gradient by the same factor keeps the update's direction and only
bounds its length, which is why it tames exploding gradients without biasing them.
"""

from __future__ import annotations

import math

import numpy as np


def global_norm(grads) -> float:
    """``sqrt(Σ ||g||²)`` over every gradient array."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads))


def clip_by_global_norm(grads, max_norm: float) -> float:
    """Scale ``grads`` in place so their global norm is at most ``max_norm``; return the norm before."""
    norm = global_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for g in grads:
            g *= scale
    return norm

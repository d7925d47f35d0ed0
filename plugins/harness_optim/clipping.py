"""Gradient clipping, the remedy for exploding gradients: by global norm or by value.

By global norm, one scale factor for all gradients together: scaling every gradient by
the same factor keeps the update's direction and only bounds its length, which is why
it tames exploding gradients without biasing them. By value, each entry is clamped to
``[-limit, limit]`` on its own: cruder (the direction changes once entries saturate) but
it bounds every single weight's step, whatever the number of parameters.
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


def clip_by_value(grads, limit: float) -> None:
    """Clamp every entry of ``grads`` to ``[-limit, limit]`` in place."""
    for g in grads:
        np.clip(g, -limit, limit, out=g)

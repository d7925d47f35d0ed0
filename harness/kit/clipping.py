"""Gradient clipping, the remedy for exploding gradients: by global norm or by value.

Shared by every optimizer that offers the ``clip_norm`` / ``clip_value`` options (the
``remedy=clipping`` preset and the divergence hint name them), built-in or third-party.

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
    """``sqrt(Σ ||g||²)`` over every gradient array.

    Squares are summed in float64: in float32 the sum overflows to infinity once the
    norm passes ~1.8e19, exactly when clipping is needed, and the scale factor would
    then be zero, silently skipping the step instead of shortening it.
    """
    return math.sqrt(sum(_squared_norm(g) for g in grads))


def _squared_norm(g: np.ndarray) -> float:
    if np.iscomplexobj(g):
        return float(np.vdot(g, g).real)
    flat = g.reshape(-1)
    return float(np.einsum("i,i->", flat, flat, dtype=np.float64))


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

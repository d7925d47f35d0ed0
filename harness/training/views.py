"""Test-time augmentation: a prediction from the mean of a model's outputs over views of its input.

A model trained on randomly shifted images (``data.shift``) has learned that a digit
moved by a pixel is the same digit. Asking it about the image *and* about its copies
moved ``k`` pixels up, down, left and right, and averaging the five answers, is a small
ensemble for the price of five forward passes (``model.tta_shift=k``; 0 turns it off).

The views need square images, flattened row by row (``input_dim`` = side²); the
uncovered border is filled with zeros, the background, as ``data.shift`` fills it. The
outputs averaged are what the model returns (a classifier's scores), so any engine's
model works; the loss reported is the mean of the views' losses.
"""

from __future__ import annotations

import math

import numpy as np

from harness.errors import ConfigError


def image_side(input_dim: int, shift: int) -> int:
    """The side of the square images ``model.tta_shift=shift`` moves, or a one-line
    :class:`ConfigError` when the inputs cannot be square images."""
    side = math.isqrt(input_dim)
    if side * side != input_dim:
        raise ConfigError(f"model.tta_shift={shift}: test-time shifts need square images as inputs, but this dataset's "
                          f"inputs have {input_dim} features (not a square number); use model.tta_shift=0")
    if not 0 < shift < side:
        raise ConfigError(f"model.tta_shift={shift}: must be between 1 and {side - 1} for {side}×{side} images (0: off)")
    return side


def shift_images(x: np.ndarray, dy: int, dx: int, side: int) -> np.ndarray:
    """A copy of the flattened ``side × side`` images ``x`` moved ``dy`` rows down and
    ``dx`` columns right (negative: up, left), zeros where nothing moved in."""
    images = x.reshape(len(x), side, side)
    out = np.zeros_like(images)
    out[:, max(0, dy):side + min(0, dy), max(0, dx):side + min(0, dx)] = \
        images[:, max(0, -dy):side - max(0, dy), max(0, -dx):side - max(0, dx)]
    return out.reshape(len(x), side * side)


def views(x: np.ndarray, shift: int) -> list[np.ndarray]:
    """``x`` itself, then moved ``shift`` pixels up, down, left and right."""
    side = image_side(x.shape[1], shift)
    return [x] + [shift_images(x, dy, dx, side) for dy, dx in ((-shift, 0), (shift, 0), (0, -shift), (0, shift))]


def outputs(model, x: np.ndarray, y: np.ndarray, shift: int = 0) -> tuple[float, np.ndarray]:
    """``model.evaluate(x, y)``, or with ``shift`` > 0 the mean loss and mean outputs over
    the five views of :func:`views`."""
    if not shift:
        return model.evaluate(x, y)
    results = [model.evaluate(view, y) for view in views(x, shift)]
    mean_scores = np.mean([np.asarray(scores, dtype=np.float64) for _, scores in results], axis=0)
    return float(np.mean([loss for loss, _ in results])), mean_scores

"""Naming where a run diverged: the step, and the first layer that went non-finite.

Checked only once the loss is non-finite (and once per epoch for the last update), so
healthy steps pay nothing: a non-finite gradient (or an overflowing step) makes the
weights it updates non-finite, and the very next forward pass turns the loss non-finite.
Weights that are not finite now were finite one step ago (that step's loss was finite).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.contracts import NamedParameter
from harness.errors import DivergenceError


def check_weights(params: Sequence[NamedParameter], steps_done: int, epoch: int, lr: float) -> None:
    """Once per epoch, before validation and checkpoints: the last update left finite weights.

    Within an epoch a non-finite update shows in the next loss; the epoch's last update
    has no next loss, so it is checked here, before anything is evaluated or saved.
    """
    for _, value, _ in params:
        if not np.isfinite(value).all():
            raise divergence(float("nan"), params, steps_done, epoch, lr, last_of_epoch=True)


def divergence(loss: float, params: Sequence[NamedParameter], steps_done: int, epoch: int, lr: float,
               last_of_epoch: bool = False, overflow: Callable[[], str | None] | None = None) -> DivergenceError:
    """The one-line reason a run diverged, naming the first layer that went non-finite."""
    advice = f"lower optimizer.lr (now {lr:g}) or enable optimizer.clip_norm"
    for name, value, _ in params:
        if not np.isfinite(value).all():
            layer = name.rsplit(".", 1)[0]
            cause = f"the update of {name} (layer {layer}) at step {steps_done} was not finite (a non-finite gradient or an overflowing step)"
            if last_of_epoch:
                return DivergenceError(f"training diverged: {cause}, the last step of epoch {epoch + 1}; {advice}")
            return DivergenceError(
                f"training diverged: {cause}, so the loss at step {steps_done + 1} (epoch {epoch + 1}) is {loss}; {advice}"
            )
    overflowing = overflow() if overflow is not None else None
    where = f"; the weights are finite, the forward pass first overflows in layer {overflowing}" if overflowing else ""
    return DivergenceError(f"training diverged: loss is {loss} at step {steps_done + 1} (epoch {epoch + 1}){where}; {advice}")

"""Linear warm-up, then the base rate: a schedule asked before every step."""

from __future__ import annotations

from harness import validation as v


class Warmup:
    """The rate grows linearly from ``start_factor × base`` to ``base`` over ``epochs``
    epochs, step by step (``per_step = True``: the loop passes a fractional epoch), then
    stays at ``base``. Large batches and large rates train more stably with it."""

    kind = "warmup"
    per_step = True

    def __init__(self, epochs: float = 1.0, start_factor: float = 0.1):
        self.epochs = v.number("epochs", epochs, low=0, low_open=True)
        self.start_factor = v.number("start_factor", start_factor, low=0, high=1, low_open=True)

    def lr(self, base_lr: float, epoch: float, total_epochs: int) -> float:
        progress = min(epoch / self.epochs, 1.0)
        return base_lr * (self.start_factor + (1.0 - self.start_factor) * progress)

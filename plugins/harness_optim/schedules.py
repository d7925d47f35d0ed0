"""Learning-rate schedules: the rate for each epoch, from the optimizer's base rate."""

from __future__ import annotations

import math

from harness import validation as v


class Constant:
    """The base rate throughout."""

    kind = "constant"

    def lr(self, base_lr: float, epoch: int, total_epochs: int) -> float:
        return base_lr


class StepDecay:
    """Divide the rate by ``factor`` every ``every`` epochs."""

    kind = "step"

    def __init__(self, every: int = 5, factor: float = 10.0):
        self.every = v.integer("every", every, low=1)
        self.factor = v.number("factor", factor, low=1)

    def lr(self, base_lr: float, epoch: int, total_epochs: int) -> float:
        return base_lr / self.factor ** (epoch // self.every)


class Cosine:
    """Half a cosine from the base rate down to ``min_lr`` over the run's epochs."""

    kind = "cosine"

    def __init__(self, min_lr: float = 0.0):
        self.min_lr = v.number("min_lr", min_lr, low=0)

    def lr(self, base_lr: float, epoch: int, total_epochs: int) -> float:
        progress = epoch / total_epochs
        return self.min_lr + 0.5 * (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))

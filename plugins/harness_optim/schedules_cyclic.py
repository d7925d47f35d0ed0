"""Learning-rate schedules asked before every step: warm-up then cosine, and one-cycle.

Both set ``per_step = True``: the loop asks for the rate before every step with a
fractional epoch (``epoch + batches_done / steps_per_epoch``), so the rate moves
smoothly within an epoch. That matters for short runs: a three-epoch run whose rate
changes only three times cannot warm up.
"""

from __future__ import annotations

import math

from harness import validation as v


class WarmupCosine:
    """Linear warm-up from ``start_factor × base`` to the base rate over
    ``warmup_epochs`` (may be fractional), then half a cosine down to ``min_factor × base``
    at the end of the run.

    Warm-up lets a large rate be used from the start without the first steps, taken
    with random weights and large gradients, throwing the network into a bad region.
    """

    kind = "warmup_cosine"
    per_step = True

    def __init__(self, warmup_epochs: float = 0.5, start_factor: float = 0.1, min_factor: float = 0.0):
        self.warmup_epochs = v.number("warmup_epochs", warmup_epochs, low=0)
        self.start_factor = v.number("start_factor", start_factor, low=0, high=1, low_open=True)
        self.min_factor = v.number("min_factor", min_factor, low=0, high=1)

    def lr(self, base_lr: float, epoch: float, total_epochs: int) -> float:
        warmup = min(self.warmup_epochs, total_epochs)
        if epoch < warmup:
            return base_lr * (self.start_factor + (1.0 - self.start_factor) * epoch / warmup)
        span = total_epochs - warmup
        progress = (epoch - warmup) / span if span > 0 else 1.0
        low = self.min_factor * base_lr
        return low + 0.5 * (base_lr - low) * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class OneCycle:
    """One cycle (Smith & Topin, 2017): the rate climbs from ``base × start_factor`` to
    the base rate over the first ``peak_at`` fraction of the run, then anneals to
    ``base × end_factor`` by its end, both halves along a cosine (as PyTorch's
    ``OneCycleLR`` with ``anneal_strategy="cos"``).

    The high rates in the middle act as a regulariser and cover ground fast; the long
    anneal settles into a minimum. It trains an MLP on MNIST to a given accuracy in
    fewer epochs than a constant or step schedule.
    """

    kind = "one_cycle"
    per_step = True

    def __init__(self, peak_at: float = 0.3, start_factor: float = 0.04, end_factor: float = 0.0004):
        self.peak_at = v.number("peak_at", peak_at, low=0, high=1, high_open=True)
        self.start_factor = v.number("start_factor", start_factor, low=0, high=1, low_open=True)
        self.end_factor = v.number("end_factor", end_factor, low=0, high=1, low_open=True)

    def lr(self, base_lr: float, epoch: float, total_epochs: int) -> float:
        progress = min(max(epoch / total_epochs, 0.0), 1.0)
        if progress < self.peak_at:
            low, phase = self.start_factor * base_lr, progress / self.peak_at
            return base_lr + (low - base_lr) * 0.5 * (1.0 + math.cos(math.pi * phase))
        low, phase = self.end_factor * base_lr, (progress - self.peak_at) / (1.0 - self.peak_at)
        return low + (base_lr - low) * 0.5 * (1.0 + math.cos(math.pi * phase))

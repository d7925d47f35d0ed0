"""Running statistics of batch normalisation, shared by every engine.

Kept in the core for the same reason as :mod:`harness.kit.initializers`: two engines given
the same batches must hold the same running mean and variance, number for number, so
that their evaluation-mode outputs and checkpoints agree.
"""

from __future__ import annotations

import numpy as np


def update_running_averages(buffers: dict[str, np.ndarray], momentum: float, mean: np.ndarray,
                            var: np.ndarray, m: int) -> None:
    """Exponential averages of a batch's statistics into ``buffers["running_mean"]`` and
    ``buffers["running_var"]``, in place. The batch variance (divided by ``m``) is
    unbiased with ``m / (m - 1)`` first; only real parts are kept, since a complex-step
    check may pass a complex batch through while the running statistics stay real."""
    keep = 1.0 - momentum
    running_mean, running_var = buffers["running_mean"], buffers["running_var"]
    running_mean *= keep
    running_mean += momentum * np.real(mean)
    running_var *= keep
    running_var += (momentum * m / (m - 1)) * np.real(var)

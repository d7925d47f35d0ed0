"""Batch normalisation (Ioffe & Szegedy, 2015): a remedy for vanishing gradients.

In training, every unit is normalised over the batch, ``x̂ = (x − μ_B) / √(σ²_B + ε)``,
then scaled and shifted by learned ``γ`` and ``β``: ``y = γ x̂ + β``. Whatever the scale
of the weights feeding a unit (a naive 0.01 Gaussian makes it tiny), the next
non-linearity sees inputs of unit spread, and on the way back the division by ``σ_B``
gives the gradient back the scale the small weights took from it. In evaluation the
running averages of ``μ_B`` and ``σ²_B`` kept during training replace the batch's, so a
prediction does not depend on the other examples of its batch.

The contract another engine mirrors (so both build the same layer from the same config):

* options ``momentum`` (PyTorch's meaning: the weight of the new batch in the running
  averages, 0.1) and ``eps`` (1e-5);
* ``params`` ``gamma`` (ones) then ``beta`` (zeros); no random numbers are drawn;
* ``buffers`` ``running_mean`` (zeros) and ``running_var`` (ones), updated **in place**
  (checkpoints save and restore them by reference) with the unbiased batch variance,
  as PyTorch does;
* a training batch of a single example has no variance: it is normalised with the
  running statistics (and leaves them unchanged) instead of collapsing to ``β``.
"""

from __future__ import annotations

import numpy as np

from harness import update_running_averages
from harness import validation as v


class BatchNorm:
    """Per-unit batch normalisation of a ``(batch, units)`` input.

    Backward with batch statistics, for ``m`` examples (``ĝ = dy ⊙ γ``):
    ``dγ = Σ dy ⊙ x̂``, ``dβ = Σ dy``,
    ``dx = (m ĝ − Σ ĝ − x̂ Σ(ĝ ⊙ x̂)) / (m √(σ²_B + ε))``; with running statistics the
    normalisation is a fixed affine map and ``dx = ĝ / √(σ²_run + ε)``.

    The variance is written ``mean(d·d)`` rather than ``np.var`` so that the forward pass
    stays complex-analytic and complex-step gradient checks apply to it.
    """

    kind = "batch_norm"

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        self.momentum = v.number("momentum", momentum, low=0, high=1)
        self.eps = v.number("eps", eps, low=0, low_open=True)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self.params = {"gamma": np.ones(input_dim, dtype=dtype), "beta": np.zeros(input_dim, dtype=dtype)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self.buffers = {"running_mean": np.zeros(input_dim, dtype=dtype), "running_var": np.ones(input_dim, dtype=dtype)}
        return input_dim

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.batch_stats = train and len(x) > 1
        if self.batch_stats:
            mean = x.mean(axis=0)
            centred = x - mean
            var = (centred * centred).mean(axis=0)
            update_running_averages(self.buffers, self.momentum, mean, var, len(x))
        else:
            centred = x - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = centred * self.inv_std
        return self.x_hat * self.params["gamma"] + self.params["beta"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        np.sum(dout * self.x_hat, axis=0, out=self.grads["gamma"])
        np.sum(dout, axis=0, out=self.grads["beta"])
        d_hat = dout * self.params["gamma"]
        if not self.batch_stats:
            return d_hat * self.inv_std
        m = len(dout)
        dx = m * d_hat
        dx -= d_hat.sum(axis=0)
        dx -= self.x_hat * (d_hat * self.x_hat).sum(axis=0)
        dx *= self.inv_std / m
        return dx

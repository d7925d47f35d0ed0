"""Batch normalisation for the ``autograd`` engine, written as a Tensor graph.

The same layer as the backprop engine's ``batch_norm`` (see
:mod:`harness_backprop.normalization` for why it remedies vanishing gradients), with
the same contract, so one model config builds the same network in either engine:

* options ``momentum`` (PyTorch's meaning: the weight of the new batch in the running
  averages, 0.1) and ``eps`` (1e-5);
* ``params`` ``gamma`` (ones) then ``beta`` (zeros); no random numbers are drawn;
* ``buffers`` ``running_mean`` (zeros) and ``running_var`` (ones), updated **in place**
  with the unbiased batch variance;
* a training batch of a single example is normalised with the running statistics and
  leaves them unchanged.

Only the forward pass is written here. In training the batch mean and variance are
nodes of the graph, so the gradient flowing through them (the part that makes the
backprop engine's ``dx`` formula long) comes from the graph; in evaluation they are
constants and the layer is the fixed affine map ``γ (x − μ_run) / √(σ²_run + ε) + β``.
"""

from __future__ import annotations

import numpy as np

from harness import update_running_averages
from harness import validation as v
from harness_autograd.layers import Layer
from harness_autograd.tensor import Tensor


class BatchNorm(Layer):
    """Per-unit batch normalisation of a ``(batch, units)`` input.

    The variance is written ``mean(d·d)`` rather than with ``np.var``, as in the backprop
    engine, so the forward pass stays complex-analytic and complex-step checks apply.
    """

    kind = "batch_norm"

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum = v.number("momentum", momentum, low=0, high=1)
        self.eps = v.number("eps", eps, low=0, low_open=True)
        self.buffers: dict[str, np.ndarray] = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self._set_params(gamma=np.ones(input_dim, dtype=dtype), beta=np.zeros(input_dim, dtype=dtype))
        self.buffers = {"running_mean": np.zeros(input_dim, dtype=dtype), "running_var": np.ones(input_dim, dtype=dtype)}
        return input_dim

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        if train and len(x) > 1:
            mean = x.mean(axis=0)
            centred = x - mean
            var = (centred * centred).mean(axis=0)
            update_running_averages(self.buffers, self.momentum, mean.data, var.data, len(x))
            x_hat = centred * (var + self.eps) ** -0.5
        else:
            # Constants: the running statistics are not trained, only averaged.
            inv_std = 1.0 / np.sqrt(self.buffers["running_var"] + self.eps)
            x_hat = (x - self.buffers["running_mean"]) * inv_std
        return x_hat * self.param("gamma") + self.param("beta")

"""Layers with parameters."""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness.initializers import check_scheme, init_weights


class Dense:
    """``Z = X W + b`` for a batch ``X`` of shape ``(m, fan_in)``.

    Backward, given ``dZ = dL/dZ``: ``dW = Xᵀ dZ``, ``db = Σ_rows dZ``,
    ``dX = dZ Wᵀ``. The first layer of a model skips ``dX`` (nobody needs the gradient
    of the pixels), which saves a third of its backward work.
    """

    kind = "dense"
    check_options = {"units": 3}  # what gradient checks build it with

    def __init__(self, units: int, init: str = "he", init_scale: float | None = None):
        self.units = v.integer("units", units, low=1)
        self.init = check_scheme("init", init)
        self.init_scale = v.optional(v.number, "init_scale", init_scale, low=0, low_open=True)
        self.needs_input_grad = True
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        weights = init_weights(self.init, rng, input_dim, self.units, dtype, self.init_scale)
        self.params = {"W": weights, "b": np.zeros(self.units, dtype=dtype)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        return self.units

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x = x
        z = x @ self.params["W"]
        z += self.params["b"]
        return z

    def backward(self, dz: np.ndarray) -> np.ndarray | None:
        np.matmul(self.x.T, dz, out=self.grads["W"])
        np.sum(dz, axis=0, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        return dz @ self.params["W"].T

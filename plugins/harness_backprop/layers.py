"""Layers with parameters."""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness import check_scheme, init_weights


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


class Dropout:
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale
    the survivors by ``1/(1-rate)`` so evaluation needs no rescaling.

    The mask comes from the layer's own generator, seeded from the model's, so a run
    stays deterministic; ``reseed`` lets a gradient check replay the same mask.
    """

    kind = "dropout"

    def __init__(self, rate: float = 0.5):
        self.rate = v.number("rate", rate, low=0, high=1, high_open=True)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(0)

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self.reseed(int(rng.integers(2**63)))
        return input_dim

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train or self.rate == 0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self.mask = keep.astype(x.dtype) * np.asarray(1.0 / (1.0 - self.rate), dtype=x.dtype)
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.mask is None else dout * self.mask

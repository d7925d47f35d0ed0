"""Layers the built-ins lack: Gaussian dropout and maxout."""

from __future__ import annotations

import numpy as np

from harness import check_scheme, init_weights
from harness import validation as v


class GaussianDropout:
    """Multiplicative Gaussian noise: ``x·ε`` with ``ε ~ N(1, rate/(1−rate))`` in training.

    The variance matches dropout's at the same ``rate`` (Srivastava et al., 2014) and the
    mean is 1, so evaluation is the identity. The noise comes from the layer's own
    generator, seeded from the model's; ``reseed`` lets a gradient check replay it.
    """

    kind = "gaussian_dropout"

    def __init__(self, rate: float = 0.1):
        self.rate = v.number("rate", rate, low=0, high=1, high_open=True)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(0)
        self.noise = None

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self.reseed(int(rng.integers(2**63)))
        return input_dim

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train or self.rate == 0:
            self.noise = None
            return x
        std = np.sqrt(self.rate / (1.0 - self.rate))
        self.noise = (1.0 + std * self.rng.standard_normal(x.shape)).astype(x.real.dtype)
        return x * self.noise

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.noise is None else dout * self.noise


class Maxout:
    """``units`` outputs, each the largest of ``pieces`` affine maps of the input.

    ``Z = X W + b`` with ``W`` of shape ``(fan_in, units·pieces)``, viewed as
    ``(m, units, pieces)``; the output takes the max over pieces (Goodfellow et al.,
    2013). Backward routes each output's gradient to the piece that won: ``dZ`` is zero
    elsewhere, then ``dW = Xᵀ dZ``, ``db = Σ dZ``, ``dX = dZ Wᵀ`` as in a dense layer.
    """

    kind = "maxout"
    check_options = {"units": 3}  # what gradient checks build it with

    def __init__(self, units: int, pieces: int = 2, init: str = "xavier"):
        self.units = v.integer("units", units, low=1)
        self.pieces = v.integer("pieces", pieces, low=2)
        self.init = check_scheme("init", init)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        width = self.units * self.pieces
        self.params = {"W": init_weights(self.init, rng, input_dim, width, dtype), "b": np.zeros(width, dtype=dtype)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        return self.units

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x = x
        z = (x @ self.params["W"] + self.params["b"]).reshape(len(x), self.units, self.pieces)
        self.winner = np.argmax(z, axis=2)[..., None]
        return np.take_along_axis(z, self.winner, axis=2)[..., 0]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dz = np.zeros((len(dout), self.units, self.pieces), dtype=dout.dtype)
        np.put_along_axis(dz, self.winner, dout[..., None], axis=2)
        dz = dz.reshape(len(dout), -1)
        np.matmul(self.x.T, dz, out=self.grads["W"])
        np.sum(dz, axis=0, out=self.grads["b"])
        return dz @ self.params["W"].T

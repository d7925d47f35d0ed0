"""Elementwise activations: layers without parameters.

Each caches the one array its derivative needs (its output, or its input for the
ReLU family) so the backward pass is a single elementwise product.
"""

from __future__ import annotations

import numpy as np

from harness import validation as v


class Activation:
    """Shared plumbing: no parameters, shape unchanged."""

    kind = "activation"
    params: dict = {}
    grads: dict = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self.params, self.grads = {}, {}
        return input_dim


class ReLU(Activation):
    """``max(0, x)``; its gradient passes where the output is positive."""

    kind = "relu"

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = np.maximum(x, 0)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (self.out > 0)


class LeakyReLU(Activation):
    """``x`` for ``x > 0``, ``alpha·x`` otherwise: negative units keep a small gradient."""

    kind = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        self.alpha = v.number("alpha", alpha, low=0, high=1)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.positive = x > 0
        return np.where(self.positive, x, x * np.asarray(self.alpha, dtype=x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.positive, dout, dout * np.asarray(self.alpha, dtype=dout.dtype))


class Sigmoid(Activation):
    """``1 / (1 + e^-x)``, computed as ``(1 + tanh(x/2)) / 2`` so it never overflows."""

    kind = "sigmoid"

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1.0 - self.out)


class Tanh(Activation):
    """``tanh(x)``; derivative ``1 - tanh²``."""

    kind = "tanh"

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out * self.out)

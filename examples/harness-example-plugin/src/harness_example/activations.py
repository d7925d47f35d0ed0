"""GELU, the activation of BERT and GPT."""

from __future__ import annotations

import math

import numpy as np

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
CUBIC = 0.044715


class GELU:
    """``x·Φ(x)`` in the tanh approximation ``½x(1 + tanh(√(2/π)(x + 0.044715x³)))``.

    The tanh form needs no ``erf`` (NumPy has none) and stays complex-analytic, so the
    complex-step check applies. Derivative, with ``u`` the tanh argument and ``t = tanh u``:
    ``½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)``.
    """

    kind = "gelu"

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        return input_dim

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x = x
        self.t = np.tanh(SQRT_2_OVER_PI * (x + CUBIC * x**3))
        return 0.5 * x * (1.0 + self.t)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, t = self.x, self.t
        du = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)

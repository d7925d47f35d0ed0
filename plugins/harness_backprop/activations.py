"""Elementwise activations: layers without parameters.

Each caches the one array its derivative needs (its output, or its input for the
ReLU family) so the backward pass is a single elementwise product.

In training mode results go to the layer's scratch arrays (no allocation per step); a
model may pass ``out=x`` to apply the activation in place, in the output buffer of the
dense layer before it, when nothing else reads that buffer. The arithmetic, and so
every bit of the result, is the same either way.
"""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness_backprop.scratch import Scratch


class Activation:
    """Shared plumbing: no parameters, shape unchanged."""

    kind = "activation"
    params: dict = {}
    grads: dict = {}
    in_place_ok = True  # forward(x, train, out=x) is correct: the input is not needed again

    def __init__(self) -> None:
        self._scratch = Scratch()

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self.params, self.grads = {}, {}
        return input_dim

    def _out(self, role: str, like: np.ndarray, train: bool, out: np.ndarray | None) -> np.ndarray | None:
        """Where a result goes: ``out`` if given, the scratch array in training, else new."""
        if out is not None:
            return out
        return self._scratch.get(role, like.shape, like.dtype) if train else None


class ReLU(Activation):
    """``max(0, x)``; its gradient passes where the output is positive."""

    kind = "relu"

    def forward(self, x: np.ndarray, train: bool = True, out: np.ndarray | None = None) -> np.ndarray:
        target = self._out("out", x, train, out)
        if target is None:
            self.out = np.maximum(x, 0)
        else:
            self.out = np.maximum(x, self._scratch.zeros("zeros", x.shape, x.dtype), out=target)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # dout · (out > 0), with the mask copied to floats first: multiplying by a bool
        # array directly casts through a 32 kB temporary buffer on every call
        scratch, out = self._scratch, self.out
        passes = np.greater(out, scratch.zeros("zeros", out.shape, out.dtype), out=scratch.get("mask", out.shape, np.bool_))
        factor = scratch.get("factor", out.shape, dout.dtype)
        np.copyto(factor, passes)
        return np.multiply(dout, factor, out=scratch.get("dx", dout.shape, dout.dtype))


class LeakyReLU(Activation):
    """``x`` for ``x > 0``, ``alpha·x`` otherwise: negative units keep a small gradient."""

    kind = "leaky_relu"
    in_place_ok = False  # both branches read the input

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = v.number("alpha", alpha, low=0, high=1)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.positive = x > 0
        return np.where(self.positive, x, x * np.asarray(self.alpha, dtype=x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.positive, dout, dout * np.asarray(self.alpha, dtype=dout.dtype))


class Sigmoid(Activation):
    """``1 / (1 + e^-x)``, computed as ``(1 + tanh(x/2)) / 2`` so it never overflows."""

    kind = "sigmoid"

    def forward(self, x: np.ndarray, train: bool = True, out: np.ndarray | None = None) -> np.ndarray:
        target = self._out("out", x, train, out)
        h = np.multiply(x, 0.5, out=target)
        np.tanh(h, out=h)
        np.add(h, 1.0, out=h)
        self.out = np.multiply(h, 0.5, out=h)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        scratch, out = self._scratch, self.out
        slope = np.subtract(1.0, out, out=scratch.get("slope", out.shape, out.dtype))
        dx = np.multiply(dout, out, out=scratch.get("dx", dout.shape, np.result_type(dout, out)))
        return np.multiply(dx, slope, out=dx)


class Tanh(Activation):
    """``tanh(x)``; derivative ``1 - tanh²``."""

    kind = "tanh"

    def forward(self, x: np.ndarray, train: bool = True, out: np.ndarray | None = None) -> np.ndarray:
        self.out = np.tanh(x, out=self._out("out", x, train, out))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        scratch, out = self._scratch, self.out
        slope = np.multiply(out, out, out=scratch.get("slope", out.shape, out.dtype))
        np.subtract(1.0, slope, out=slope)
        return np.multiply(dout, slope, out=scratch.get("dx", dout.shape, np.result_type(dout, slope)))

"""Layers with parameters."""

from __future__ import annotations

import numpy as np

from harness import check_scheme, init_weights
from harness import validation as v
from harness_backprop.scratch import Scratch


class Dense:
    """``Z = X W + b`` for a batch ``X`` of shape ``(m, fan_in)``.

    Backward, given ``dZ = dL/dZ``: ``dW = Xᵀ dZ``, ``db = Σ_rows dZ``,
    ``dX = dZ Wᵀ``. The first layer of a model skips ``dX`` (nobody needs the gradient
    of the pixels), which saves a third of its backward work.

    In training mode ``Z`` and ``dX`` are written into the layer's own scratch arrays
    (see :mod:`harness_backprop.scratch`): the bias is added in the GEMM's output
    buffer, and a model may apply the next activation there too (``private_output``:
    nobody but the next layer reads ``Z``).
    """

    kind = "dense"
    check_options = {"units": 3}  # what gradient checks build it with
    private_output = True

    def __init__(self, units: int, init: str = "he", init_scale: float | None = None):
        self.units = v.integer("units", units, low=1)
        self.init = check_scheme("init", init)
        self.init_scale = v.optional(v.number, "init_scale", init_scale, low=0, low_open=True)
        self.needs_input_grad = True
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._scratch = Scratch()

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        weights = init_weights(self.init, rng, input_dim, self.units, dtype, self.init_scale)
        self.params = {"W": weights, "b": np.zeros(self.units, dtype=dtype)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        return self.units

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.x = x
        weights = self.params["W"]
        if train:
            dtype = x.dtype if x.dtype == weights.dtype else np.result_type(x, weights)
            z = np.matmul(x, weights, out=self._scratch.get("z", (len(x), weights.shape[1]), dtype))
        else:
            z = np.matmul(x, weights)
        return np.add(z, self.params["b"], out=z)

    def backward(self, dz: np.ndarray) -> np.ndarray | None:
        np.matmul(self.x.T, dz, out=self.grads["W"])
        np.add.reduce(dz, axis=0, out=self.grads["b"])  # np.sum's own call, without its wrapper
        if not self.needs_input_grad:
            return None
        weights = self.params["W"]
        dtype = dz.dtype if dz.dtype == weights.dtype else np.result_type(dz, weights)
        return np.matmul(dz, weights.T, out=self._scratch.get("dx", (len(dz), weights.shape[0]), dtype))


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
        self._scratch = Scratch()

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self.reseed(int(rng.integers(2**63)))
        return input_dim

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train or self.rate == 0:
            self.mask = None
            return x
        scratch, shape = self._scratch, x.shape
        draws = self.rng.random(dtype=np.float32, out=scratch.get("draws", shape, np.float32))
        keep = np.greater_equal(draws, self.rate, out=scratch.get("keep", shape, np.bool_))
        self.mask = scratch.get("mask", shape, x.dtype)
        np.copyto(self.mask, keep)  # then scale: no 32 kB cast buffer, as bool × float has
        self.mask *= np.asarray(1.0 / (1.0 - self.rate), dtype=x.dtype)
        return np.multiply(x, self.mask, out=scratch.get("out", shape, x.dtype))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return dout
        return np.multiply(dout, self.mask, out=self._scratch.get("dx", dout.shape, np.result_type(dout, self.mask)))

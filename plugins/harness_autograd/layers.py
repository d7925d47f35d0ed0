"""Layers, activations and losses of the ``autograd`` engine, written as Tensor graphs.

Each one only says how its output is computed (``layer(x, train)`` on a
:class:`Tensor`); the backward pass comes from the graph. Names, options and weight
initialisation match the backprop engine's so that one model config builds the same
network, with the same weights for the same seed, in either engine.

Parameters live in ``params`` (the arrays the optimizer updates in place) and
``grads`` (the arrays the gradients are written into). ``param(name)`` wraps the pair
as a :meth:`Tensor.parameter`, so the graph reads and writes those very arrays; like
the backprop engine, a layer reads ``params[name]`` at every call, so a checker that
swaps in another array (complex steps) is heard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness import check_scheme, init_weights
from harness import validation as v
from harness_autograd.tensor import Tensor, no_grad


class Layer:
    """Shared plumbing: ``forward`` on arrays for the core, no parameters by default.

    The engine's model needs, of a layer with parameters, ``params``, ``grads`` and
    ``tensors`` (name -> the leaf last used for ``params[name]``); a composite layer
    exposes its inner layers' under prefixed names, as the backprop engine's do.
    """

    kind = "layer"

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.tensors: dict[str, Tensor] = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        return input_dim

    # Subclasses define ``__call__(x: Tensor, train: bool) -> Tensor``.
    if TYPE_CHECKING:
        def __call__(self, x: Tensor, train: bool) -> Tensor: ...

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """The layer on a plain array, without building a graph (core protocol)."""
        with no_grad():
            return self(Tensor(x), train).data

    def param(self, name: str) -> Tensor:
        """``params[name]`` as a graph leaf; its gradient goes to ``grads[name]``.

        The wrapper is kept in ``tensors`` while ``params[name]`` is the same array
        object; an array swapped in (another dtype, for a check) gets a new leaf.
        """
        value = self.params[name]
        tensor = self.tensors.get(name)
        if tensor is None or tensor.data is not value:
            grad = self.grads.get(name)
            if grad is not None and grad.shape == value.shape and grad.dtype == value.dtype:
                tensor = Tensor.parameter(value, grad)
            else:
                tensor = Tensor(value, requires_grad=True)
            self.tensors[name] = tensor
        return tensor

    def _set_params(self, **params: np.ndarray) -> None:
        self.params = params
        self.grads = {name: np.zeros_like(value) for name, value in params.items()}
        self.tensors = {}
        for name in params:
            self.param(name)


class Dense(Layer):
    """``x @ W + b``, one fused :meth:`Tensor.linear` node.

    Weights are drawn exactly as the backprop engine's ``dense`` draws them (same
    scheme, same generator calls, ``W`` as ``(fan_in, fan_out)``, ``b`` zeros).
    """

    kind = "dense"
    check_options = {"units": 3}  # what gradient checks build it with

    def __init__(self, units: int, init: str = "he", init_scale: float | None = None):
        super().__init__()
        self.units = v.integer("units", units, low=1)
        self.init = check_scheme("init", init)
        self.init_scale = v.optional(v.number, "init_scale", init_scale, low=0, low_open=True)

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        weights = init_weights(self.init, rng, input_dim, self.units, dtype, self.init_scale)
        self._set_params(W=weights, b=np.zeros(self.units, dtype=dtype))
        return self.units

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        return x.linear(self.param("W"), self.param("b"))


class Dropout(Layer):
    """Inverted dropout, the backprop engine's masks: the same generator, the same draws."""

    kind = "dropout"

    def __init__(self, rate: float = 0.5):
        super().__init__()
        self.rate = v.number("rate", rate, low=0, high=1, high_open=True)
        self.rng = np.random.default_rng(0)

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        self.reseed(int(rng.integers(2**63)))
        return input_dim

    def reseed(self, seed: int) -> None:
        """Restart the mask sequence (gradient checks replay one mask)."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        if not train or self.rate == 0:
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        return x * (keep.astype(x.dtype) * np.asarray(1.0 / (1.0 - self.rate), dtype=x.dtype))


class ReLU(Layer):
    kind = "relu"

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        return x.relu()


class LeakyReLU(Layer):
    kind = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = v.number("alpha", alpha, low=0, high=1)

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        return x.leaky_relu(self.alpha)


class Sigmoid(Layer):
    kind = "sigmoid"

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        return x.sigmoid()


class Tanh(Layer):
    kind = "tanh"

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        return x.tanh()


class SoftmaxCrossEntropy:
    """Mean cross-entropy of the softmax of the logits: one fused, stable node."""

    kind = "softmax_cross_entropy"
    check_variants = [{"label_smoothing": 0.1}]  # harness check verifies the smoothed loss too

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = v.number("label_smoothing", label_smoothing, low=0, high=1, high_open=True)

    def __call__(self, outputs: Tensor, labels: np.ndarray) -> Tensor:
        return outputs.cross_entropy(labels, self.label_smoothing)


class MeanSquaredError:
    """``mean((outputs − onehot(labels))²)`` over every output of every example."""

    kind = "mse"

    def __call__(self, outputs: Tensor, labels: np.ndarray) -> Tensor:
        target = np.zeros(outputs.shape, dtype=outputs.dtype)
        target[np.arange(len(labels)), labels] = 1
        diff = outputs - target
        return (diff * diff).mean()


LAYERS = (Dense, Dropout)
ACTIVATIONS = (ReLU, LeakyReLU, Sigmoid, Tanh)
LOSSES = (SoftmaxCrossEntropy, MeanSquaredError)

"""Layers, activations and losses of the ``scalar`` engine: one :class:`Value` per number.

A batch travels through the layers as a list of rows, each row a list of ``Value``.
This engine exists to be read and to train small problems (two moons), not MNIST: a
784-256-128-10 MLP would be half a million graph nodes per example.

Parameters are NumPy arrays like every engine's (``params``, updated in place by the
shared optimizers; ``grads``, filled after each backward pass). A dense layer keeps an
:class:`~harness_autograd.nn.Layer` of neurons and copies the arrays into its ``Value``
weights before each pass (``load``) and their gradients back after it
(``store_grads``).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import methodcaller
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from harness import check_scheme, init_weights
from harness import validation as v
from harness_autograd import nn
from harness_autograd.value import Value

Rows = list[list[Value]]


class ScalarLayer:
    """Shared plumbing: no parameters by default, ``forward`` on arrays for the core.

    Subclasses define ``__call__(rows, train) -> rows``.
    """

    kind = "layer"

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        return input_dim

    if TYPE_CHECKING:
        def __call__(self, rows: Rows, train: bool) -> Rows: ...

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        return to_array(self(to_rows(x), train), x.dtype)


class Activation(ScalarLayer):
    """``fn`` applied to every value of every row: a method call, so rows of ``Value``
    (reverse mode) and rows of ``Dual`` (forward mode) go through the same code."""

    fn: Callable[[Any], Any]  # set by each subclass

    def __call__(self, rows: Rows, train: bool) -> Rows:
        fn = self.fn
        return [[fn(value) for value in row] for row in rows]


class ReLU(Activation):
    kind = "relu"
    fn = methodcaller("relu")


class Tanh(Activation):
    kind = "tanh"
    fn = methodcaller("tanh")


class Sigmoid(Activation):
    kind = "sigmoid"
    fn = methodcaller("sigmoid")


class Dense(ScalarLayer):
    """``x W + b`` computed neuron by neuron; weights drawn as the backprop engine draws them."""

    kind = "dense"
    check_options = {"units": 3}

    def __init__(self, units: int, init: str = "he", init_scale: float | None = None):
        super().__init__()
        self.units = v.integer("units", units, low=1)
        self.init = check_scheme("init", init)
        self.init_scale = v.optional(v.number, "init_scale", init_scale, low=0, low_open=True)

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        weights = init_weights(self.init, rng, input_dim, self.units, dtype, self.init_scale)
        self.params = {"W": weights, "b": np.zeros(self.units, dtype=dtype)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self.layer = nn.Layer(input_dim, self.units, "linear")  # its numbers come from params
        return self.units

    def load(self) -> None:
        """Copy ``params`` into the neurons' ``Value`` weights and clear their gradients."""
        for neuron, column, bias in zip(self.layer.neurons, self.params["W"].T.tolist(), self.params["b"].tolist()):
            for weight, number in zip(neuron.w, column):
                weight.data, weight.grad = number, 0.0
            neuron.b.data, neuron.b.grad = bias, 0.0

    def store_grads(self) -> None:
        """Copy the neurons' gradients into ``grads``."""
        neurons = self.layer.neurons
        self.grads["W"][...] = [[n.w[i].grad for n in neurons] for i in range(len(neurons[0].w))]
        self.grads["b"][...] = [n.b.grad for n in neurons]

    def __call__(self, rows: Rows, train: bool) -> Rows:
        self.load()
        layer = self.layer
        return [layer(row) for row in rows]

    def forward_with(self, rows, params: dict) -> list:
        """``x W + b`` with explicit weights: nested lists of any number type (``Dual``
        for forward mode), ``W`` as ``(fan_in, units)``; the same sums as the neurons'."""
        columns = list(zip(*params["W"]))
        return [[sum([w * x for w, x in zip(column, row)], bias) for column, bias in zip(columns, params["b"])] for row in rows]


class SoftmaxCrossEntropy:
    """Mean over rows of ``log Σⱼ e^{zⱼ − m} − (z_y − m)``, ``m`` the row's largest value.

    Subtracting the constant ``m`` changes neither the loss nor its gradient, and keeps
    every exponent ≤ 0.
    """

    kind = "softmax_cross_entropy"

    def __call__(self, rows: Rows, labels) -> Value:
        total: Any = 0.0  # a Value after the first row (a Dual in forward mode)
        for row, label in zip(rows, labels):
            m = max(z.data for z in row)
            exps = cast(Value, sum([(z - m).exp() for z in row]))  # 0 + the row's terms: never the bare 0
            total = total + exps.log() - (row[label] - m)
        return total * (1.0 / len(rows))


class MeanSquaredError:
    """``mean((outputs − onehot(labels))²)`` over every output of every example."""

    kind = "mse"

    def __call__(self, rows: Rows, labels) -> Value:
        total: Any = 0.0  # a Value after the first row (a Dual in forward mode)
        for row, label in zip(rows, labels):
            for j, z in enumerate(row):
                diff = z - 1.0 if j == label else z
                total = total + diff * diff
        return total * (1.0 / (len(rows) * len(rows[0])))


def to_rows(x: np.ndarray) -> Rows:
    """A batch array as rows of leaf ``Value`` objects."""
    return [[Value(number) for number in row] for row in x.tolist()]


def to_array(rows: Rows, dtype) -> np.ndarray:
    return np.array([[value.data for value in row] for row in rows], dtype=dtype)


LAYERS = (Dense,)
ACTIVATIONS = (ReLU, Tanh, Sigmoid)
LOSSES = (SoftmaxCrossEntropy, MeanSquaredError)

"""The backprop engine: layers chained forward, gradients chained backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import LayerStackModel, build_stack
from harness_backprop.contracts import SkipsInputGradient


class SequentialModel(LayerStackModel):
    """A stack of layers ending in a loss.

    ``train_batch`` runs the forward pass (layers cache what they need), the loss,
    and the backward pass in reverse order, stopping at the first layer with
    parameters: gradients below it would go to the input data.

    An activation right after a dense layer runs in place in that layer's output
    buffer (the dense layer declares ``private_output``: only the next layer reads it),
    which saves a buffer and a cache's worth of traffic per layer and step.
    """

    def __init__(self, layers: list[Any], loss: Any, output_dim: int = 0):
        super().__init__(layers, loss, output_dim)
        with_params = [i for i, layer in enumerate(layers) if layer.params]
        first = with_params[0] if with_params else 0
        if isinstance(layers[first], SkipsInputGradient):
            layers[first].needs_input_grad = False
        self._backward_layers = layers[first:][::-1]
        self._in_place = [
            i > 0 and getattr(layers[i - 1], "private_output", False) and getattr(layer, "in_place_ok", False)
            for i, layer in enumerate(layers)
        ]

    @classmethod
    def build(cls, layers: list[Any], loss: Any, *, input_dim: int, rng: np.random.Generator, dtype: Any) -> SequentialModel:
        """Build the layers in order, then lay their parameters end to end (:func:`pack_parameters`)."""
        output_dim = build_stack(layers, input_dim, rng, dtype)
        pack_parameters(layers)
        return cls(layers, loss, output_dim)

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        for layer, in_place in zip(self.layers, self._in_place):
            x = layer.forward(x, train, out=x) if in_place else layer.forward(x, train)
        return x

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        outputs = self.forward(x, True)
        loss = self.loss.forward(outputs, y)
        grad = self.loss.backward()
        for layer in self._backward_layers:
            grad = layer.backward(grad)
        return loss, outputs

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        outputs = self.forward(x, False)
        return self.loss.forward(outputs, y), outputs


class BackpropEngine:
    """Builds :class:`SequentialModel` from the layer objects the registry made.

    The ``layer_*`` / ``loss_*`` methods are the engine's side of gradient checking: a
    checker asks the engine for forward values and analytical gradients of one built
    component, and never needs to know how the engine computes them.
    """

    name = "backprop"

    def build_model(self, layers: list[Any], loss: Any, *, input_dim: int, rng: np.random.Generator,
                    dtype: Any) -> SequentialModel:
        return SequentialModel.build(layers, loss, input_dim=input_dim, rng=rng, dtype=dtype)

    # ------------------------------------------------------------- gradient checks

    # Layers return their scratch arrays in training mode (valid until their next call);
    # a checker keeps results across calls, so it gets copies.

    def layer_forward(self, layer, x: np.ndarray) -> np.ndarray:
        return np.array(layer.forward(x, True), copy=True)

    def layer_gradients(self, layer, x: np.ndarray, upstream: np.ndarray):
        """``(d_input, {param: grad})`` of ``Σ upstream ⊙ layer(x)``."""
        if isinstance(layer, SkipsInputGradient):
            layer.needs_input_grad = True
        layer.forward(x, True)
        d_input = layer.backward(upstream.copy())
        return None if d_input is None else np.array(d_input, copy=True), {name: grad.copy() for name, grad in layer.grads.items()}

    def loss_forward(self, loss, outputs: np.ndarray, labels: np.ndarray) -> float:
        return float(loss.forward(outputs, labels))

    def loss_gradient(self, loss, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        loss.forward(outputs, labels)
        return np.array(loss.backward(), copy=True)


def pack_parameters(layers: list) -> None:
    """Lay the parameters of the top-level layers end to end in one flat array, and their
    gradients in another, in ``named_parameters`` order; each layer keeps views.

    An optimizer then updates all of them with a few calls over one contiguous array
    (see ``Optimizer.step``) instead of a few calls per parameter: the same arithmetic,
    element by element, with a sixth of the NumPy calls. Composite layers (residual
    blocks) keep their own arrays, which their inner layers share.
    """
    entries = [(layer, key) for layer in layers if not hasattr(layer, "layers") for key in layer.params]
    dtypes = {layer.params[key].dtype for layer, key in entries}
    if len(entries) < 2 or len(dtypes) != 1:
        return
    total = sum(layer.params[key].size for layer, key in entries)
    values = np.empty(total, dtype=dtypes.pop())
    grads = np.zeros_like(values)
    offset = 0
    for layer, key in entries:
        value = layer.params[key]
        stop = offset + value.size
        view = values[offset:stop].reshape(value.shape)
        view[...] = value
        layer.params[key] = view
        layer.grads[key] = grads[offset:stop].reshape(value.shape)
        offset = stop

"""The backprop engine: layers chained forward, gradients chained backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import LayerStackModel
from harness_backprop.contracts import SkipsInputGradient


class SequentialModel(LayerStackModel):
    """A stack of layers ending in a loss.

    ``train_batch`` runs the forward pass (layers cache what they need), the loss,
    and the backward pass in reverse order, stopping at the first layer with
    parameters: gradients below it would go to the input data.
    """

    def __init__(self, layers: list[Any], loss: Any, output_dim: int = 0):
        super().__init__(layers, loss, output_dim)
        with_params = [i for i, layer in enumerate(layers) if layer.params]
        first = with_params[0] if with_params else 0
        if isinstance(layers[first], SkipsInputGradient):
            layers[first].needs_input_grad = False
        self._backward_layers = layers[first:][::-1]

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, train)
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

    def layer_forward(self, layer, x: np.ndarray) -> np.ndarray:
        return layer.forward(x, True)

    def layer_gradients(self, layer, x: np.ndarray, upstream: np.ndarray):
        """``(d_input, {param: grad})`` of ``Σ upstream ⊙ layer(x)``."""
        if isinstance(layer, SkipsInputGradient):
            layer.needs_input_grad = True
        layer.forward(x, True)
        d_input = layer.backward(upstream.copy())
        return d_input, {name: grad.copy() for name, grad in layer.grads.items()}

    def loss_forward(self, loss, outputs: np.ndarray, labels: np.ndarray) -> float:
        return float(loss.forward(outputs, labels))

    def loss_gradient(self, loss, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        loss.forward(outputs, labels)
        return np.array(loss.backward(), copy=True)

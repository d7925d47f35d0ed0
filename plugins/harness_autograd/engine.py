"""The ``autograd`` engine: a model is its layers applied to a Tensor, then ``backward``.

Nothing here knows a derivative: the graph that ``layer(x, train)`` builds supplies
the backward pass. The model follows the core's protocol, so optimizers, schedules,
batching, tracking and gradient checks are the shared ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import LayerStackModel
from harness_autograd.tangents import tangent
from harness_autograd.tensor import Tensor, no_grad


class TensorModel(LayerStackModel):
    """Layers applied in order to a :class:`Tensor`, then the loss, then ``backward``.

    The input batch is a constant (it does not require a gradient), so the graph never
    computes the gradient of the pixels, and the parameters' gradients are written
    straight into the arrays ``named_parameters`` returns.
    """

    def _forward(self, x: np.ndarray, train: bool) -> Tensor:
        out = Tensor(x)
        for layer in self.layers:
            out = layer(out, train)
        return out

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        for layer in self.with_params:
            for tensor in layer.tensors.values():
                tensor.zero_grad()
        outputs = self._forward(x, True)
        loss = self.loss(outputs, y)
        loss.backward()
        for layer in self.with_params:
            for name, tensor in layer.tensors.items():
                if tensor.grad is None:  # not on the path to the loss: its gradient is zero
                    layer.grads[name].fill(0)
        return float(loss.data), outputs.data

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        with no_grad():
            outputs = self._forward(x, False)
            return float(self.loss(outputs, y).data), outputs.data


class AutogradEngine:
    """Builds :class:`TensorModel`; answers gradient checks from the graph, in reverse
    mode (``layer_gradients``: ``Jᵀ·u``) and forward mode (``layer_jvp``: ``J·v``)."""

    name = "autograd"

    def build_model(self, layers: list[Any], loss: Any, *, input_dim: int, rng: np.random.Generator,
                    dtype: Any) -> TensorModel:
        return TensorModel.build(layers, loss, input_dim=input_dim, rng=rng, dtype=dtype)

    # ------------------------------------------------------------- gradient checks

    def layer_forward(self, layer, x: np.ndarray) -> np.ndarray:
        return layer.forward(x, True)

    def layer_gradients(self, layer, x: np.ndarray, upstream: np.ndarray):
        """``(d_input, {param: grad})`` of ``Σ upstream ⊙ layer(x)``."""
        inputs = Tensor(x, requires_grad=True)
        for tensor in layer.tensors.values():
            tensor.zero_grad()
        layer(inputs, True).backward(upstream)
        grads = {
            name: np.zeros_like(layer.params[name]) if tensor.grad is None else np.array(tensor.grad)
            for name, tensor in layer.tensors.items()
        }
        return inputs.grad, grads

    def layer_jvp(self, layer, x: np.ndarray, d_input: np.ndarray, d_params: dict[str, np.ndarray]):
        """``(layer(x), J·v)``: forward mode, ``v`` = the input tangent and parameter tangents.

        The layer is applied once with its graph recorded, then tangents are pushed from
        the input and the named parameters to the output (:func:`tangents.tangent`).
        """
        inputs = Tensor(x, requires_grad=True)
        output = layer(inputs, True)
        seeds = {inputs: d_input}
        for name, direction in d_params.items():
            seeds[layer.tensors[name]] = direction  # the leaf this very call read
        return output.data, tangent(output, seeds)

    def loss_jvp(self, loss, outputs: np.ndarray, labels: np.ndarray, d_outputs: np.ndarray):
        """``(loss, d loss)`` along the tangent ``d_outputs`` of the outputs: forward mode."""
        logits = Tensor(outputs, requires_grad=True)
        value = loss(logits, labels)
        return value.data.item(), tangent(value, {logits: d_outputs}).item()

    def loss_forward(self, loss, outputs: np.ndarray, labels: np.ndarray) -> float:
        """The loss as a Python number (complex if the outputs are: complex-step checks)."""
        with no_grad():
            return loss(Tensor(outputs), labels).data.item()

    def loss_gradient(self, loss, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        logits = Tensor(outputs, requires_grad=True)
        loss(logits, labels).backward()
        assert logits.grad is not None  # backward reaches every leaf that requires a gradient
        return logits.grad

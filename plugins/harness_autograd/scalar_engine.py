"""The ``scalar`` engine: the micrograd-style :class:`Value` behind the core's model protocol.

Slow by nature (one Python object per number), so it is for teaching and for toy
problems: ``harness-train +experiment=scalar_moons``. Everything around the model —
optimizers, schedules, batching, tracking, gradient checks — is shared with the other
engines.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from harness import LayerStackModel
from harness_autograd.dual import Dual
from harness_autograd.scalar_layers import to_array, to_rows
from harness_autograd.tangents import NoTangentRule

log = logging.getLogger("harness.scalar")
LARGE = 20_000  # parameters beyond which a run takes minutes per epoch, not seconds


class ScalarModel(LayerStackModel):
    """Layers applied row by row to ``Value`` objects, then the loss, then ``backward``."""

    def _forward(self, x: np.ndarray, train: bool):
        rows = to_rows(x)
        for layer in self.layers:
            rows = layer(rows, train)
        return rows

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        rows = self._forward(x, True)
        loss = self.loss(rows, y.tolist())
        loss.backward()
        for layer in self.with_params:
            layer.store_grads()
        return float(loss.data), to_array(rows, x.dtype)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        rows = self._forward(x, False)
        return float(self.loss(rows, y.tolist()).data), to_array(rows, x.dtype)


class ScalarEngine:
    """Builds :class:`ScalarModel`; answers gradient checks from ``Value`` graphs (reverse
    mode) and from ``Dual`` numbers (forward mode)."""

    name = "scalar"

    def build_model(self, layers: list[Any], loss: Any, *, input_dim: int, rng: np.random.Generator,
                    dtype: Any) -> ScalarModel:
        model = ScalarModel.build(layers, loss, input_dim=input_dim, rng=rng, dtype=dtype)
        count = model.parameter_count()
        if count > LARGE:
            log.warning(
                "engine=scalar builds one Python object per number: %s parameters mean about %s graph "
                "nodes per example; engine=autograd trains the same model with NumPy arrays", f"{count:,}", f"{2 * count:,}",
            )
        return model

    # ------------------------------------------------------------- gradient checks

    def layer_forward(self, layer, x: np.ndarray) -> np.ndarray:
        return layer.forward(x, True)

    def layer_gradients(self, layer, x: np.ndarray, upstream: np.ndarray):
        """``(d_input, {param: grad})`` of ``Σ upstream ⊙ layer(x)``."""
        inputs = to_rows(x)
        outputs = layer(inputs, True)
        objective = sum(value * weight for row, weights in zip(outputs, upstream.tolist()) for value, weight in zip(row, weights))
        objective.backward()
        if layer.params:
            layer.store_grads()
        d_input = np.array([[value.grad for value in row] for row in inputs], dtype=x.dtype)
        return d_input, {name: grad.copy() for name, grad in layer.grads.items()}

    def layer_jvp(self, layer, x: np.ndarray, d_input: np.ndarray, d_params: dict[str, np.ndarray]):
        """``(layer(x), J·v)`` from one pass of ``Dual`` numbers through the layer.

        A layer without parameters runs on dual rows as it runs on ``Value`` rows; one
        with parameters evaluates itself with dual weights through ``forward_with(rows,
        params)``, since its own call reads its ``Value`` neurons.
        """
        rows = dual_rows(x, d_input)
        if layer.params:
            forward_with = getattr(layer, "forward_with", None)
            if forward_with is None:
                raise NoTangentRule(f"scalar layer {layer.kind!r} has parameters but no forward_with(rows, params)")
            params = {
                name: _dual_nested(value, d_params.get(name, np.zeros_like(value)))
                for name, value in layer.params.items()
            }
            outputs = forward_with(rows, params)
        else:
            outputs = layer(rows, True)
        return to_array(outputs, x.dtype), np.array([[value.tangent for value in row] for row in outputs], dtype=x.dtype)

    def loss_jvp(self, loss, outputs: np.ndarray, labels: np.ndarray, d_outputs: np.ndarray):
        """``(loss, d loss)`` along ``d_outputs``, from one pass of ``Dual`` numbers."""
        value = loss(dual_rows(outputs, d_outputs), labels.tolist())
        return float(value.data), float(value.tangent)

    def loss_forward(self, loss, outputs: np.ndarray, labels: np.ndarray) -> float:
        return float(loss(to_rows(outputs), labels.tolist()).data)

    def loss_gradient(self, loss, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        rows = to_rows(outputs)
        loss(rows, labels.tolist()).backward()
        return np.array([[value.grad for value in row] for row in rows], dtype=outputs.dtype)



def dual_rows(x: np.ndarray, tangents: np.ndarray) -> list[list[Dual]]:
    """A batch and its tangent as rows of ``Dual`` numbers."""
    return [[Dual(a, t) for a, t in zip(row, trow)] for row, trow in zip(x.tolist(), tangents.tolist())]


def _dual_nested(value: np.ndarray, direction: np.ndarray):
    """An array and its tangent as nested lists of ``Dual`` (a scalar stays one)."""
    if value.ndim == 0:
        return Dual(value.item(), float(direction))
    return [_dual_nested(v, d) for v, d in zip(value, direction)]

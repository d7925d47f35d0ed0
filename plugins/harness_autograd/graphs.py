"""The computational graph a scalar-engine model builds for a few examples, ready to draw.

The ``scalar`` engine is the one whose graph *is* the computation, one ``Value`` per
number, so its graph can be looked at: this builds the loss of a batch (one or two
examples: a 2-4-2 network is about a hundred nodes per example) with the model's
current weights, runs the backward pass, and names the nodes a reader needs to find —
the inputs, every weight and bias, the logits and the loss. Used by the ``lessons``
plugin to attach the graph to a run (``lessons.graph: true``).
"""

from __future__ import annotations

import numpy as np

from harness_autograd.scalar_layers import to_rows
from harness_autograd.value import Value


def loss_graph(model, x: np.ndarray, y: np.ndarray) -> tuple[Value, dict[int, str]]:
    """``(loss, labels)``: the loss ``Value`` of ``model`` on ``(x, y)`` after ``backward``,
    and a name for each input, weight, bias, logit and the loss (keyed by ``id(node)``)."""
    rows = to_rows(x)
    single = len(rows) == 1
    labels: dict[int, str] = {}
    for r, row in enumerate(rows):
        for i, value in enumerate(row):
            labels[id(value)] = f"x{i}" if single else f"x[{r}][{i}]"
    h = rows
    for name, layer in zip(model.layer_names, model.layers):
        h = layer(h, False)
        neurons = getattr(getattr(layer, "layer", None), "neurons", None)
        for j, neuron in enumerate(neurons or ()):  # a dense layer's Value weights, as W[i, j] and b[j]
            for i, weight in enumerate(neuron.w):
                labels[id(weight)] = f"{name}.W[{i},{j}]"
            labels[id(neuron.b)] = f"{name}.b[{j}]"
    for r, row in enumerate(h):
        for j, value in enumerate(row):
            labels[id(value)] = f"logit {j}" if single else f"logit[{r}][{j}]"
    loss = model.loss(h, [int(label) for label in y])
    labels[id(loss)] = "loss"
    loss.backward()
    return loss, labels

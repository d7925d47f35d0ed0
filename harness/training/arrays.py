"""Every array that makes a model what it is, by name: parameters and layer buffers.

Parameters come from ``model.named_parameters()``; buffers (batch-norm running
statistics) from layers that are :class:`~harness.contracts.BufferedLayer`, nested layers
(:class:`~harness.contracts.CompositeLayer`) included. One naming scheme
(:func:`harness.kit.layer_name`) serves checkpoints, the best-epoch snapshot and
exported models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.contracts import BufferedLayer, CompositeLayer, Model
from harness.kit.stack import layer_name


def model_components(model: Model) -> list[tuple[str, Any]]:
    """``(name, layer)`` for every layer, nested ones included (``2.residual/0.dense``)."""
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, layers: list[Any], names: list[str]) -> None:
        for name, layer in zip(names, layers):
            found.append((prefix + name, layer))
            if isinstance(layer, CompositeLayer) and layer.layers:
                walk(f"{prefix}{name}/", layer.layers, [layer_name(i, inner) for i, inner in enumerate(layer.layers)])

    walk("", model.layers, model.layer_names)
    return found


def model_arrays(model: Model) -> dict[str, np.ndarray]:
    """``{"param/<name>": array, "buffer/<layer>/<key>": array}``: the live arrays, not copies."""
    arrays = {f"param/{name}": value for name, value, _ in model.named_parameters()}
    for name, layer in model_components(model):
        if isinstance(layer, BufferedLayer):
            for key, buffer in layer.buffers.items():
                arrays[f"buffer/{name}/{key}"] = buffer
    return arrays


def snapshot(model: Model) -> dict[str, np.ndarray]:
    return {key: value.copy() for key, value in model_arrays(model).items()}


def restore(model: Model, saved: dict[str, np.ndarray]) -> None:
    for key, target in model_arrays(model).items():
        np.copyto(target, saved[key])

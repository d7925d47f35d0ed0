"""Every array that makes a model what it is, by name: parameters and layer buffers.

Parameters come from ``model.named_parameters()``; buffers (batch-norm running
statistics) from the ``buffers`` dict a layer may have, nested layers included. One
naming scheme serves checkpoints, the best-epoch snapshot and exported models.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def model_components(model) -> list[tuple[str, Any]]:
    """``(name, layer)`` for every layer, nested ones included (``2.residual/0.dense``)."""
    found = []

    def walk(prefix: str, layers, names) -> None:
        for name, layer in zip(names, layers):
            found.append((prefix + name, layer))
            inner = getattr(layer, "layers", None)
            if isinstance(inner, list) and inner:
                walk(f"{prefix}{name}/", inner, [f"{i}.{getattr(l, 'kind', type(l).__name__)}" for i, l in enumerate(inner)])

    walk("", model.layers, model.layer_names)
    return found


def model_arrays(model) -> dict[str, np.ndarray]:
    """``{"param/<name>": array, "buffer/<layer>/<key>": array}``: the live arrays, not copies."""
    arrays = {f"param/{name}": value for name, value, _ in model.named_parameters()}
    for name, layer in model_components(model):
        for key, buffer in getattr(layer, "buffers", {}).items():
            arrays[f"buffer/{name}/{key}"] = buffer
    return arrays


def snapshot(model) -> dict[str, np.ndarray]:
    return {key: value.copy() for key, value in model_arrays(model).items()}


def restore(model, saved: dict[str, np.ndarray]) -> None:
    for key, target in model_arrays(model).items():
        np.copyto(target, saved[key])

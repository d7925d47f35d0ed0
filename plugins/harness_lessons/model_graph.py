"""A configured model as a picture: its layers in order, their parameters, the shapes between.

``harness graph --model [overrides...]`` composes the experiment exactly as
``harness-train`` would (same config groups, same overrides), builds the named layers
through the registry for the chosen engine and the dataset's input size (the dataset is
not loaded), and lists every layer with its options and parameter shapes. A composite
layer is drawn as a box around its inner layers; a residual block also gets the
``+`` node where its shortcut rejoins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness import ConfigError


def compose(overrides: list[str], output_dir: Path):
    """The experiment config ``harness-train OVERRIDES`` would train (Hydra's compose API)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from harness.testing import compose as compose_config

    try:
        return compose_config(overrides, output_dir=output_dir)
    except (HydraException, OmegaConfBaseException) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(first) from None


def describe(cfg, registry) -> tuple[list[dict], str]:
    """``(nodes for dot.layer_graph, title)`` of the model ``cfg`` configures.

    Only what drawing needs is read: the engine, ``model.layers`` and ``model.loss`` (each
    built through the registry, so a bad layer option fails as it would in training), the
    dataset's input size and class count (known before loading), the seed and dtype.
    """
    from omegaconf import OmegaConf

    from harness import build_layers, build_loss

    config = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(config, dict)  # cfg is a DictConfig
    engine_name = config["engine"]["name"]
    registry.create("engine", engine_name, _options(config["engine"]), section="engine")
    specs = config["model"]["layers"]
    if not isinstance(specs, list) or not specs:
        raise ConfigError("model.layers must be a non-empty list of {type: ..., ...} entries")
    dataset = registry.create("dataset", config["data"]["name"], _options(config["data"]), section="data")
    layers = build_layers(registry, engine_name, specs, num_classes=dataset.num_classes)
    loss_spec = config["model"].get("loss", "softmax_cross_entropy")
    loss_name, loss_options = (loss_spec, {}) if isinstance(loss_spec, str) else (loss_spec["type"], _options(loss_spec, "type"))
    build_loss(registry, engine_name, loss_name, loss_options)

    rng, dtype = np.random.default_rng(config.get("seed", 0)), np.dtype(config.get("dtype", "float32"))
    dim = dataset.input_dim
    nodes: list[dict[str, Any]] = [{"id": "input", "title": f"input: {config['data']['name']}", "lines": [f"batch × {dim}"], "kind": "input"}]
    previous, total = "input", 0
    for i, (layer, spec) in enumerate(zip(layers, specs)):
        name = f"{i}.{spec['type']}"
        out = layer.build(dim, rng, dtype)
        count = sum(int(np.size(value)) for value in layer.params.values())
        total += count
        inner = getattr(layer, "layers", None)
        if isinstance(inner, list) and inner:
            previous = _block(nodes, name, layer, inner, spec, previous, dim, out, dtype)
        else:
            nodes.append({"id": _node_id(name), "title": name, "lines": _details(layer, spec, count),
                          "inputs": [(previous, f"batch × {dim}")]})
            previous = _node_id(name)
        dim = out
    nodes.append({"id": "loss", "title": f"loss: {loss_name}", "lines": [f"{dataset.num_classes} classes"],
                  "kind": "loss", "inputs": [(previous, f"batch × {dim}")]})
    title = f"{config.get('name', 'model')}: model.layers with engine={engine_name}, {total:,} parameters"
    return nodes, title


def _options(section: dict, key: str = "name") -> dict:
    return {k: v for k, v in section.items() if k != key}


def _node_id(name: str) -> str:
    return "L_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def _details(layer, spec: dict, count: int) -> list[str]:
    options = ", ".join(f"{k}: {v}" for k, v in spec.items() if k not in ("type", "layers") and v is not None)
    lines = [options] if options else []
    lines += [f"{key} {' × '.join(map(str, np.shape(value))) or 'scalar'}" for key, value in layer.params.items()
              if "/" not in key and key.count(".") == 0]
    if count:
        lines.append(f"{count:,} parameters")
    return lines


def _block(nodes, name, block, inner, spec, previous, dim, out, dtype) -> str:
    """Inner layers of a composite layer inside a cluster; returns the id the next layer reads."""
    entry = previous
    h = np.zeros((1, dim), dtype=dtype)
    for j, layer in enumerate(inner):
        inner_spec = spec.get("layers", [{}] * len(inner))[j] if isinstance(spec.get("layers"), list) else {}
        inner_name = f"{name}/{j}.{inner_spec.get('type', getattr(layer, 'kind', type(layer).__name__.lower()))}"
        count = sum(int(np.size(value)) for value in layer.params.values())
        nodes.append({"id": _node_id(inner_name), "title": inner_name, "lines": _details(layer, inner_spec, count),
                      "inputs": [(previous, f"batch × {h.shape[1]}")], "cluster": name})
        h = layer.forward(h, False)
        previous = _node_id(inner_name)
    if getattr(block, "kind", "") == "residual":
        add = _node_id(name + "_add")
        nodes.append({"id": add, "kind": "add", "cluster": name,
                      "inputs": [(previous, f"batch × {h.shape[1]}"), (entry, "identity shortcut")]})
        return add
    return previous

"""What the core knows about models: how config names become layer objects.

The core never computes with an engine's layers. It asks the registry for the layer,
activation and loss objects named in ``model.layers`` / ``model.loss`` for the chosen
engine and hands them to that engine, which wires them into a model with this surface
(the core only reads and copies the arrays it exposes, for checkpoints and snapshots):

* ``train_batch(x, y) -> (loss, outputs)``: forward in training mode, loss, backward;
  gradients are left in the arrays returned by ``named_parameters``.
* ``evaluate(x, y) -> (loss, outputs)``: forward in evaluation mode, no gradients.
* ``named_parameters() -> list[(name, value, grad)]``: arrays updated in place.
* ``layers`` and ``layer_names``: the layer objects in order and one name per layer,
  for per-layer diagnostics (each layer has ``forward(x, train)``, ``params``, ``grads``).
* ``output_dim``: the size of the model's output.
"""

from __future__ import annotations

from harness.errors import PluginError
from harness.registry import Registry


def build_layers(registry: Registry, engine: str, specs: list[dict], section: str = "model.layers") -> list:
    """One object per ``model.layers`` entry, looked up among layers then activations.

    An option whose value is itself a list of layer specs (``{type: residual, layers:
    [...]}``) is built first, recursively, and handed to the factory as layer objects:
    composite layers never need the registry themselves.
    """
    layers = []
    for i, spec in enumerate(specs):
        options = dict(spec)
        name = options.pop("type")
        where = f"{section}[{i}]"
        for key, value in options.items():
            if _is_layer_list(value):
                options[key] = build_layers(registry, engine, value, section=f"{where}.{key}")
        layers.append(registry.create(_kind_of(registry, engine, name, where), name, options, section=where, engine=engine))
    return layers


def _is_layer_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "type" in v for v in value)


def _kind_of(registry: Registry, engine: str, name: str, where: str) -> str:
    for kind in ("layer", "activation"):
        if registry.has(kind, name, engine=engine):
            return kind
    known = registry.names("layer", engine) + registry.names("activation", engine)
    message = f"{where}: unknown layer or activation {name!r} for engine {engine!r}; known: {', '.join(sorted(known)) or '(none)'}"
    if registry.pm.failures:
        message += "; plugins that failed to load: " + ", ".join(registry.pm.failures)
    raise PluginError(message)


def build_stack(layers: list, input_dim: int, rng, dtype) -> int:
    """Build each layer on the previous one's output size; return the model's output size.

    Every engine draws its initial weights through this one loop, in layer order, so two
    engines given the same seed start from the same weights.
    """
    dim = input_dim
    for layer in layers:
        dim = layer.build(dim, rng, dtype)
    return dim


def build_loss(registry: Registry, engine: str, name: str, options: dict):
    return registry.create("loss", name, options, section="model.loss", engine=engine)

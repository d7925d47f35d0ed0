"""What the core knows about models: how config names become layer objects.

The core never touches an engine's arrays. It asks the registry for the layer,
activation and loss objects named in ``model.layers`` / ``model.loss`` for the chosen
engine and hands them to that engine, which wires them into a model with this surface:

* ``train_batch(x, y) -> (loss, outputs)``: forward in training mode, loss, backward;
  gradients are left in the arrays returned by ``named_parameters``.
* ``evaluate(x, y) -> (loss, outputs)``: forward in evaluation mode, no gradients.
* ``named_parameters() -> list[(name, value, grad)]``: arrays updated in place.
* ``layer_names``: one name per layer, for per-layer diagnostics.
"""

from __future__ import annotations

from harness.errors import PluginError
from harness.registry import Registry


def build_layers(registry: Registry, engine: str, specs: list[dict]) -> list:
    """One object per ``model.layers`` entry, looked up among layers then activations."""
    layers = []
    for i, spec in enumerate(specs):
        options = dict(spec)
        name = options.pop("type")
        section = f"model.layers[{i}]"
        if registry.has("layer", name, engine=engine):
            kind = "layer"
        elif registry.has("activation", name, engine=engine):
            kind = "activation"
        else:
            known = registry.names("layer", engine) + registry.names("activation", engine)
            message = f"{section}: unknown layer or activation {name!r} for engine {engine!r}; known: {', '.join(sorted(known)) or '(none)'}"
            if registry.pm.failures:
                message += "; plugins that failed to load: " + ", ".join(registry.pm.failures)
            raise PluginError(message)
        layers.append(registry.create(kind, name, options, section=section, engine=engine))
    return layers


def build_loss(registry: Registry, engine: str, name: str, options: dict):
    return registry.create("loss", name, options, section="model.loss", engine=engine)

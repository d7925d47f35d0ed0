"""What the core knows about models: how config names become layer objects.

The core never computes with an engine's layers. It asks the registry for the layer,
activation and loss objects named in ``model.layers`` / ``model.loss`` for the chosen
engine and hands them to that engine, which wires them into a model with this surface
(the core only reads and copies the arrays it exposes, for checkpoints and snapshots):

* ``train_batch(x, y) -> (loss, outputs)``: forward in training mode, loss, backward;
  gradients are left in the arrays returned by ``named_parameters``.
* ``evaluate(x, y) -> (loss, outputs)``: forward in evaluation mode, no gradients.
* ``named_parameters() -> list[(name, value, grad)]``: arrays updated in place.
* ``layers`` and ``layer_names``: the layer objects in order and one name per layer
  (:func:`harness.kit.layer_name`), for per-layer diagnostics.
* ``output_dim``: the size of the model's output.

(:class:`harness.contracts.Model` is the typed form; :class:`harness.kit.LayerStackModel`
gives engines all of it but the forward and backward passes.)
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError, PluginError
from harness.registry import Registry

# ``units: auto`` in a layer spec: the dataset's class count (an output layer that follows
# ``data=...``), filled in before the layer's factory sees its options.
AUTO_UNITS = "auto"


def build_layers(registry: Registry, engine: str, specs: list[dict[str, Any]], section: str = "model.layers",
                 num_classes: int | None = None) -> list[Any]:
    """One object per ``model.layers`` entry, looked up among layers then activations.

    An option whose value is itself a list of layer specs (``{type: residual, layers:
    [...]}``) is built first, recursively, and handed to the factory as layer objects:
    composite layers never need the registry themselves. ``units: auto`` becomes
    ``num_classes`` (the dataset's class count), so one model config fits every dataset.
    """
    layers = []
    for i, spec in enumerate(specs):
        options = dict(spec)
        name = options.pop("type")
        where = f"{section}[{i}]"
        if options.get("units") == AUTO_UNITS:
            if num_classes is None:
                raise ConfigError(f"{where}.units: 'auto' means the dataset's class count, which is not known here")
            options["units"] = num_classes
        for key, value in options.items():
            if _is_layer_list(value):
                options[key] = build_layers(registry, engine, value, section=f"{where}.{key}", num_classes=num_classes)
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
        message += "; plugins that failed to load: " + ", ".join(f.describe() for f in registry.pm.failures.values())
    raise PluginError(message)


def build_loss(registry: Registry, engine: str, name: str, options: dict[str, Any]) -> Any:
    return registry.create("loss", name, options, section="model.loss", engine=engine)


def component_plugins(registry: Registry, engine: str, specs: list[dict[str, Any]], loss: str) -> set[str]:
    """The plugins whose components a model uses: its engine, every layer (nested ones
    included) and its loss."""
    found = {registry.plugin_of("engine", engine), registry.plugin_of("loss", loss, engine=engine)}
    pending = list(specs)
    while pending:
        spec = dict(pending.pop())
        name = spec.pop("type")
        found.add(registry.plugin_of(_kind_of(registry, engine, name, "model.layers"), name, engine=engine))
        pending += [inner for value in spec.values() if _is_layer_list(value) for inner in value]
    return found


def model_requirements(registry: Registry, engine: str, specs: list[dict[str, Any]], loss: str) -> list[str]:
    """``name==version`` of every distribution a trained model needs to be rebuilt: the
    harness core's and those shipping the plugins of its components (third-party ones
    included). Plugins registered by hand, not installed, have no distribution to name."""
    from harness import DISTRIBUTION, __version__

    needed = {f"{DISTRIBUTION}=={__version__}"} if "+" not in __version__ else set()
    for plugin in component_plugins(registry, engine, specs, loss):
        info = registry.pm.infos.get(plugin)
        if info is not None and info.requirement:
            needed.add(info.requirement)
    return sorted(needed)

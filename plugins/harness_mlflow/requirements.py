"""The exact distributions a logged model needs, pinned ``name==version``.

A model is rebuilt from ``model_spec.json`` through the registry, so it needs this
project's distribution (the core, and the built-in plugins it ships) and the
distribution of every plugin that provides a component the model names: its engine,
each layer and activation (nested blocks included) and its loss. The registry knows
which plugin registered each name and the plugin manager which distribution each plugin
came from. MLflow and NumPy, which the model code imports, are pinned too. With
``bundle`` the distributions the index cannot provide travel as wheels
(:mod:`harness_mlflow.wheels`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import Distribution, version
from pathlib import Path

from harness import HarnessError

log = logging.getLogger("harness.mlflow")
RUNTIME = ("mlflow", "numpy")  # what pyfunc_model.py imports besides the project


@dataclass(frozen=True)
class Pinned:
    name: str
    version: str
    wheel: Path | None = None  # bundled: installed from the model's own code/ folder

    @property
    def requirement(self) -> str:
        return f"code/{self.wheel.name}" if self.wheel is not None else f"{self.name}=={self.version}"


def core_distribution() -> str:
    import harness

    return getattr(harness, "DISTRIBUTION", "harness-backprop")


def component_plugins(registry, engine: str, layers: list, loss) -> set[str]:
    """Names of the plugins that registered the model's engine, layers and loss."""
    plugins = {registry.get("engine", engine).plugin}
    loss_name = loss if isinstance(loss, str) else loss["type"]
    plugins.add(registry.get("loss", loss_name, engine=engine).plugin)
    for spec in _layer_specs(layers):
        kind = "layer" if registry.has("layer", spec["type"], engine=engine) else "activation"
        plugins.add(registry.get(kind, spec["type"], engine=engine).plugin)
    return plugins


def _layer_specs(layers: list):
    for spec in layers:
        yield spec
        for value in spec.values():
            if isinstance(value, list) and value and all(isinstance(v, dict) and "type" in v for v in value):
                yield from _layer_specs(value)


def model_distributions(registry, plugin_infos: dict, engine: str, layers: list, loss) -> list[str]:
    """The project's distribution and those of the plugins the model's components come from."""
    names = [core_distribution()]
    for plugin in sorted(component_plugins(registry, engine, layers, loss)):
        info = plugin_infos.get(plugin)
        if info is None or info.distribution in ("", "-"):
            log.warning("plugin %r comes from no installed distribution; the model's requirements cannot name it", plugin)
            continue
        names.append(info.distribution)
    return list(dict.fromkeys(names))


def pin(names: list[str], bundle: bool) -> list[Pinned]:
    """``name==version`` of each installed distribution; with ``bundle``, the wheel of
    each one installed from a local source."""
    from harness_mlflow.wheels import wheel_for

    pinned = []
    for name in names:
        dist = installed(name)
        if dist is None:
            log.warning("distribution %r is not installed; the model's requirements leave it out", name)
            continue
        wheel = None
        if bundle:
            try:
                wheel = wheel_for(dist)
            except HarnessError as exc:  # the model is still logged; it needs the index to be served
                log.warning("%s; the model names %s==%s instead", exc, name, dist.version)
        pinned.append(Pinned(dist.metadata["Name"], dist.version, wheel))
    return pinned


def installed(name: str) -> Distribution | None:
    """The installed distribution ``name``. A source checkout on ``sys.path`` (the current
    directory) shows its ``<name>.egg-info`` first, which does not say where the package
    was installed from; the copy that does (PEP 610's ``direct_url.json``) is preferred."""
    found = list(Distribution.discover(name=name))
    return next((d for d in found if d.read_text("direct_url.json")), found[0] if found else None)


def requirements(pinned: list[Pinned]) -> list[str]:
    """The model's ``requirements.txt`` lines: the runtime's and the project's, all exact."""
    lines = [f"{name}=={version(name)}" for name in RUNTIME]
    return lines + [p.requirement for p in pinned]

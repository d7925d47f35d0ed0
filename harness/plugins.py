"""Plugin discovery: one entry-point group, built-ins included.

Every plugin is a module named by an entry point in the ``harness`` group; the
built-in ones are declared in this project's ``pyproject.toml`` exactly as a
third-party package declares its own. ``HARNESS_LOAD_PLUGINS`` restricts loading to a
comma-separated list of entry-point names (empty string: load none).

A plugin that fails to import does not stop the others: the failure is kept in
:attr:`PluginManager.failures`, shown by ``harness plugins`` and mentioned when a run
asks for a name that plugin would have provided.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint

import pluggy

from harness import hookspecs

ENTRY_POINT_GROUP = "harness"
LOAD_ENV = "HARNESS_LOAD_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    entry_point: str
    distribution: str
    version: str


@dataclass(frozen=True)
class PluginFailure:
    """A plugin whose entry point could not be loaded."""

    name: str
    entry_point: str
    error: str


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus a record of where each plugin came from."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: dict[str, PluginFailure] = {}
        # Names asked for (HARNESS_LOAD_PLUGINS) that no installed entry point has.
        self.not_installed: list[str] = []

    def load_entry_points(self, wanted: set[str] | None = None) -> None:
        """Load every plugin of the group (or only ``wanted`` names)."""
        available = installed_entry_points()
        if wanted is not None:
            self.not_installed = sorted(wanted - {ep.name for ep in available})
        for ep in available:
            if wanted is not None and ep.name not in wanted:
                continue
            if self.has_plugin(ep.name) or ep.name in self.failures:
                continue
            spec = f"{ep.name} = {ep.value}"
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self.failures[ep.name] = PluginFailure(
                    ep.name, spec, f"{type(exc).__name__}: {exc}".splitlines()[0]
                )
                continue
            self.register_plugin(module, ep.name, spec, ep.dist)

    def register_plugin(self, module, name: str, entry_point: str, dist=None) -> None:
        """Register one plugin object and remember its provenance."""
        self.register(module, name=name)
        self.infos[name] = PluginInfo(
            name=name,
            entry_point=entry_point,
            distribution=dist.name if dist is not None else "-",
            version=dist.version if dist is not None else "-",
        )


def installed_entry_points() -> list[EntryPoint]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(eps, key=lambda ep: ep.name)


def wanted_from_env(environ=os.environ) -> set[str] | None:
    """Names listed in ``HARNESS_LOAD_PLUGINS``; ``None`` when it is unset."""
    raw = environ.get(LOAD_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def load_plugins(wanted: set[str] | None = None, *, use_env: bool = True) -> PluginManager:
    """A fresh plugin manager with the entry-point plugins loaded."""
    if wanted is None and use_env:
        wanted = wanted_from_env()
    pm = PluginManager()
    pm.load_entry_points(wanted)
    return pm

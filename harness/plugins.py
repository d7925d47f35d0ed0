"""Plugin discovery and hook calling: one entry-point group, one manager per process.

Every plugin is a module named by an entry point in the ``harness`` group; the
built-in ones are declared in this project's ``pyproject.toml`` exactly as a
third-party package declares its own. ``HARNESS_LOAD_PLUGINS`` restricts loading to a
comma-separated list of entry-point names (empty string: load none).

:func:`get_plugin_manager` loads them once per process and hands out the same manager
afterwards (a sweep of 256 jobs in one process imports every plugin once). Hooks are
called through pluggy only: ``pm.hook.<name>(...)`` everywhere, or :func:`call_each`
where every plugin must be called on its own (to attribute registered names to their
plugin, or so that one plugin's failure does not cost another's turn). Either way an
implementation may take any subset of the hook's arguments and ``wrapper=True``
implementations wrap, as pluggy promises.

A plugin that fails to import does not stop the others: the failure is kept in
:attr:`PluginManager.failures`, shown by ``harness plugins`` and ``harness check``,
warned about once per training run, and mentioned when a run asks for a name that
plugin would have provided.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any

import pluggy

from harness import hookspecs

ENTRY_POINT_GROUP = "harness"
LOAD_ENV = "HARNESS_LOAD_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from: its entry point and the distribution shipping it."""

    name: str
    entry_point: str
    distribution: str
    version: str

    @property
    def requirement(self) -> str | None:
        """``name==version`` of the distribution, or ``None`` for a plugin registered by hand."""
        return None if self.distribution == "-" else f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin whose entry point could not be loaded."""

    name: str
    entry_point: str
    error: str

    def describe(self) -> str:
        return f"{self.name} ({self.entry_point}): {self.error}"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus a record of where each plugin came from."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: dict[str, PluginFailure] = {}
        # Names asked for (HARNESS_LOAD_PLUGINS) that no installed entry point has.
        self.not_installed: list[str] = []
        self._registry: Any = None

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

    def register_plugin(self, module: object, name: str, entry_point: str, dist: Any = None) -> None:
        """Register one plugin object and remember its provenance."""
        self.register(module, name=name)
        self.infos[name] = PluginInfo(
            name=name,
            entry_point=entry_point,
            distribution=dist.name if dist is not None else "-",
            version=dist.version if dist is not None else "-",
        )
        self._registry = None  # the names on offer changed

    def describe(self, plugin: str) -> str:
        """``'name' (entry point 'name = module')`` for messages."""
        info = self.infos.get(plugin)
        return f"{plugin!r} (entry point {info.entry_point!r})" if info else repr(plugin)


def installed_entry_points() -> list[EntryPoint]:
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(eps, key=lambda ep: ep.name)


def wanted_from_env(environ: Mapping[str, str] = os.environ) -> set[str] | None:
    """Names listed in ``HARNESS_LOAD_PLUGINS``; ``None`` when it is unset."""
    raw = environ.get(LOAD_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def load_plugins(wanted: set[str] | None = None, *, use_env: bool = True) -> PluginManager:
    """A *fresh* plugin manager with the entry-point plugins loaded.

    Most code wants :func:`get_plugin_manager`, the process's one manager; this is for
    code that needs a manager of its own (a test registering a fixture plugin).
    """
    if wanted is None and use_env:
        wanted = wanted_from_env()
    pm = PluginManager()
    pm.load_entry_points(wanted)
    return pm


_managers: dict[object, PluginManager] = {}
_active: list[PluginManager] = []


def get_plugin_manager(*, all_installed: bool = False) -> PluginManager:
    """The process's plugin manager, loaded on first use and reused afterwards.

    It follows ``HARNESS_LOAD_PLUGINS`` (a changed value loads a manager for the new
    value); ``all_installed=True`` gives the manager of every installed plugin whatever
    the variable says (what a plugin's own conformance tests check). Inside
    :func:`activated` it is the manager activated there.
    """
    if _active and not all_installed:
        return _active[-1]
    key: object = "all" if all_installed else os.environ.get(LOAD_ENV)
    pm = _managers.get(key)
    if pm is None:
        pm = load_plugins(use_env=not all_installed)
        _managers[key] = pm
    return pm


@contextlib.contextmanager
def activated(pm: PluginManager) -> Iterator[PluginManager]:
    """Make ``pm`` the process's manager for a while: a run trained with its own manager
    (a test registering a plugin by hand) sees it everywhere, config options included."""
    _active.append(pm)
    try:
        yield pm
    finally:
        _active.remove(pm)


def reset_plugin_manager() -> None:
    """Forget the loaded managers (tests that install or remove plugins)."""
    _managers.clear()


def get_registry(pm: PluginManager | None = None) -> Any:
    """The :class:`harness.registry.Registry` of ``pm`` (the process's manager by default), built once."""
    from harness.registry import Registry

    pm = pm or get_plugin_manager()
    if pm._registry is None:
        pm._registry = Registry(pm)
    return pm._registry


def call_each(
    hook_name: str,
    kwargs: Mapping[str, Any] | Callable[[str], Mapping[str, Any]],
    *,
    pm: PluginManager | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
    only: str | None = None,
) -> list[tuple[str, Any]]:
    """Call every plugin's implementation of ``hook_name`` on its own, through pluggy.

    For each plugin pluggy calls a caller restricted to that plugin (plus every plugin
    that only wraps the hook), so the implementation receives only the arguments it
    names and ``wrapper=True`` implementations wrap each call. ``kwargs`` is the call's
    arguments, or a function of the plugin's name giving them (a ``register`` callback
    that knows whose names it records). Plugins are visited in pluggy's call order
    (``tryfirst`` first, then the most recently registered).

    Returns ``[(plugin name, what pluggy returned)]``. An exception propagates unless
    ``on_error(plugin name, exception)`` is given; then it is reported there and the
    next plugin still gets its turn. ``only`` calls just the plugin of that name.
    """
    pm = pm or get_plugin_manager()
    caller = getattr(pm.hook, hook_name)
    impls = caller.get_hookimpls()
    callees = [impl for impl in impls if not (impl.wrapper or impl.hookwrapper)]
    results: list[tuple[str, Any]] = []
    for impl in reversed(callees):  # pluggy calls the list from its end
        if only is not None and impl.plugin_name != only:
            continue
        others = [other.plugin for other in callees if other.plugin is not impl.plugin]
        alone = pm.subset_hook_caller(hook_name, remove_plugins=others)
        arguments = kwargs(impl.plugin_name) if callable(kwargs) else kwargs
        try:
            results.append((impl.plugin_name, alone(**arguments)))
        except Exception as exc:
            if on_error is None:
                raise
            on_error(impl.plugin_name, exc)
    return results


def has_implementations(pm: PluginManager, hook_name: str) -> bool:
    """Does any plugin implement ``hook_name`` (so a hot-path call can be skipped)?"""
    return bool(getattr(pm.hook, hook_name).get_hookimpls())

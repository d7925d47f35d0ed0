"""Turn names from config into objects provided by plugins.

The registry asks every plugin's registration hooks for the names it provides and
keeps, for each name, the factory and the plugin it came from. Errors are one line:
an unknown name lists the names that exist (and any plugin that failed to load); a
name registered twice names both plugins and their entry points; options a factory
does not accept are listed with the ones it does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from harness.errors import ConfigError, HarnessError, PluginError
from harness.plugins import PluginManager, call_each


@dataclass(frozen=True)
class Kind:
    """A family of named things plugins provide."""

    name: str
    hook: str
    per_engine: bool = False


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("engine", "harness_register_engines"),
        Kind("layer", "harness_register_layers", per_engine=True),
        Kind("activation", "harness_register_activations", per_engine=True),
        Kind("loss", "harness_register_losses", per_engine=True),
        Kind("optimizer", "harness_register_optimizers"),
        Kind("schedule", "harness_register_schedules"),
        Kind("gradient_checker", "harness_register_gradient_checkers"),
        Kind("dataset", "harness_register_datasets"),
    )
}


@dataclass(frozen=True)
class Entry:
    """One registered name."""

    kind: str
    name: str
    factory: Callable
    plugin: str
    engine: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.engine}:{self.name}" if self.engine else self.name


@dataclass(frozen=True)
class Section:
    """A top-level config section a plugin declared (``harness_register_config_sections``)."""

    name: str
    plugin: str
    hashed: bool = True
    default: Any = None  # the section's contents when a config says nothing of it


class Registry:
    """Every name every loaded plugin provides, by kind (and engine)."""

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm
        self._entries: dict[tuple[str, str | None, str], Entry] = {}
        self._sections: dict[str, Section] = {}
        for kind in KINDS.values():
            self._collect(kind.hook, lambda plugin, kind=kind: {"register": partial(self._add, kind, plugin)})
        self._collect("harness_register_config_sections",
                      lambda plugin: {"register": partial(self._add_section, plugin)})

    # ------------------------------------------------------------------ building

    def _collect(self, hook: str, kwargs) -> None:
        """Each plugin's registration hook on its own, so names are attributed to it."""
        def failed(plugin: str, exc: Exception) -> None:
            if isinstance(exc, HarnessError):
                raise exc
            raise PluginError(f"plugin {self._describe(plugin)} failed in {hook}: {type(exc).__name__}: {exc}") from exc

        call_each(hook, kwargs, pm=self.pm, on_error=failed)

    def _add_section(self, plugin: str, name: str, *, hashed: bool = True, default: Mapping | None = None) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"plugin {self._describe(plugin)} declared config section {name!r}, which is not a name")
        if default is not None and not isinstance(default, Mapping):
            raise PluginError(f"plugin {self._describe(plugin)} declared config section {name!r} with a default that is "
                              f"not a mapping: {default!r}")
        known = self._sections.get(name)
        if known is not None and known.hashed != hashed:
            raise PluginError(
                f"config section {name!r} is declared hashed={known.hashed} by plugin {self._describe(known.plugin)} "
                f"and hashed={hashed} by plugin {self._describe(plugin)}"
            )
        self._sections.setdefault(name, Section(name, plugin, bool(hashed), dict(default) if default is not None else None))

    def _add(self, kind: Kind, plugin: str, name: str, factory: Callable, *, engine: str | None = None) -> None:
        if kind.per_engine and not engine:
            raise PluginError(
                f"plugin {self._describe(plugin)} registered {kind.name} {name!r} without engine=..."
            )
        if not callable(factory):
            raise PluginError(f"plugin {self._describe(plugin)} registered {kind.name} {name!r} with a non-callable factory")
        key = (kind.name, engine if kind.per_engine else None, name)
        if key in self._entries:
            first = self._entries[key]
            where = f" for engine {engine!r}" if kind.per_engine else ""
            raise PluginError(
                f"{kind.name} {name!r}{where} is registered twice: by plugin {self._describe(first.plugin)} "
                f"and by plugin {self._describe(plugin)}"
            )
        self._entries[key] = Entry(kind.name, name, factory, plugin, engine if kind.per_engine else None)

    def _describe(self, plugin: str) -> str:
        return self.pm.describe(plugin)

    def declared_sections(self) -> dict[str, Section]:
        """Top-level config sections plugins declared, by name."""
        return dict(self._sections)

    def unhashed_sections(self) -> tuple[str, ...]:
        """Sections that say how a run is recorded or shown, not what it computes."""
        return tuple(sorted(name for name, section in self._sections.items() if not section.hashed))

    def plugin_of(self, kind: str, name: str, *, engine: str | None = None) -> str:
        """The plugin that registered ``name`` (for messages and model requirements)."""
        return self.get(kind, name, engine=engine).plugin

    # ------------------------------------------------------------------- queries

    def entries(self, kind: str | None = None, *, plugin: str | None = None) -> list[Entry]:
        return sorted(
            (e for e in self._entries.values() if (kind is None or e.kind == kind) and (plugin is None or e.plugin == plugin)),
            key=lambda e: (e.kind, e.engine or "", e.name),
        )

    def names(self, kind: str, engine: str | None = None) -> list[str]:
        return [e.name for e in self.entries(kind) if e.engine == engine]

    def get(self, kind: str, name, *, engine: str | None = None) -> Entry:
        if kind not in KINDS:
            raise PluginError(f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
        scope = engine if KINDS[kind].per_engine else None
        entry = self._entries.get((kind, scope, name)) if isinstance(name, str) else None
        if entry is None:
            raise PluginError(self._unknown_message(kind, name, scope))
        return entry

    def _unknown_message(self, kind: str, name, engine: str | None) -> str:
        known = self.names(kind, engine)
        where = f" for engine {engine!r}" if engine else ""
        message = f"unknown {kind} {name!r}{where}; known: {', '.join(known) if known else '(none)'}"
        if self.pm.failures:
            failed = ", ".join(f"{f.name} ({f.error})" for f in self.pm.failures.values())
            message += f"; plugins that failed to load: {failed}"
        return message

    def has(self, kind: str, name: str, *, engine: str | None = None) -> bool:
        scope = engine if KINDS[kind].per_engine else None
        return (kind, scope, name) in self._entries

    def create(self, kind: str, name, options: Mapping | None = None, *, section: str, engine: str | None = None):
        """Call the factory registered for ``name`` with ``options`` from config.

        ``section`` is the config path used in error messages (``optimizer``,
        ``model.layers[2]``).
        """
        entry = self.get(kind, name, engine=engine)
        options = dict(options or {})
        _check_options(entry, options, section)
        try:
            return entry.factory(**options)
        except ConfigError as exc:
            raise ConfigError(f"{section}.{exc}") from None


def _check_options(entry: Entry, options: dict, section: str) -> None:
    try:
        signature = inspect.signature(entry.factory)
    except (TypeError, ValueError):
        return
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        hint = ""
        if section.isidentifier():  # a whole section such as `optimizer`: likely switched with `optimizer.name=`
            hint = (f" (`{section}.name={entry.name}` keeps the options of the {entry.kind} it replaces; "
                    f"select `{section}={entry.name}` to get its own)")
        raise ConfigError(
            f"{section}: {entry.kind} {entry.name!r} does not accept "
            f"{', '.join(repr(u) for u in unknown)}; accepted: {', '.join(accepted) or '(no options)'}{hint}"
        )
    missing = [
        p.name for p in params
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in options
    ]
    if missing:
        raise ConfigError(f"{section}: {entry.kind} {entry.name!r} needs {', '.join(repr(m) for m in missing)}")

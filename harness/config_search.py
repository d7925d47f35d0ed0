"""Hydra configuration that plugins add, without editing the core's ``conf/``.

A plugin implements ``harness_register_config_dirs(register)`` and calls
``register(path)`` with a directory laid out like ``conf/`` (``optimizer/<name>.yaml``,
``model/<name>.yaml``). :class:`PluginConfigSearchPath`, a Hydra ``SearchPathPlugin``
shipped in the ``hydra_plugins`` namespace package, appends those directories to the
search path of harness's own configuration, so ``harness-train optimizer=<name>``
finds the option. They come after the core's directory: a plugin adds options, it cannot
replace the core's.

It acts only when the primary config directory is harness's, so other Hydra apps in
the same environment are untouched. A plugin that fails to import or registers a path
that is not a directory is logged and skipped: the runs that do not use it still work.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.plugins.search_path_plugin import SearchPathPlugin

from harness.errors import PluginError
from harness.plugins import PluginManager, call_each, get_plugin_manager
from harness.resources import config_dir

HOOK = "harness_register_config_dirs"
SCHEMES = ("pkg://", "file://")

log = logging.getLogger("harness")


def plugin_config_dirs(pm: PluginManager) -> list[tuple[str, str]]:
    """``(plugin, search path)`` for every directory plugins register, in plugin-name order."""
    registered: dict[str, list[str]] = {}

    def collect(plugin: str) -> dict[str, object]:
        paths = registered.setdefault(plugin, [])
        return {"register": lambda path: paths.append(_search_path(plugin, path))}

    def failed(plugin: str, exc: Exception) -> None:
        registered.pop(plugin, None)  # a broken plugin must not take the others' configuration down
        if isinstance(exc, PluginError):
            log.warning("%s", exc)
        else:
            log.warning("plugin %r failed in %s, its config is ignored: %s: %s", plugin, HOOK, type(exc).__name__, exc)

    call_each(HOOK, collect, pm=pm, on_error=failed)
    return [(plugin, path) for plugin in sorted(registered) for path in registered[plugin]]


def _search_path(plugin: str, path) -> str:
    if isinstance(path, str) and path.startswith(SCHEMES):
        return path
    directory = Path(path).resolve()
    if not directory.is_dir():
        raise PluginError(f"plugin {plugin!r} registered config dir {str(path)!r}, which is not a directory; config ignored")
    return str(directory)


def is_harness_search_path(search_path) -> bool:
    """Is the primary config directory harness's ``conf/``?"""
    ours = config_dir().resolve()
    for element in search_path.get_path():
        if element.provider == "main" and element.path:
            path = element.path.removeprefix("file://")
            if Path(path).resolve() == ours:
                return True
    return False


SECTIONS_GROUP = "harness_sections"
SECTIONS_OPTION = "plugins"


def plugin_section_defaults(pm: PluginManager) -> dict[str, dict]:
    """``{section: default}`` for every section plugins declared with a default."""
    defaults: dict[str, dict] = {}

    def collect(plugin: str) -> dict[str, object]:
        def register(name, *, default=None, hashed=True):
            if isinstance(name, str) and isinstance(default, dict):
                defaults.setdefault(name, dict(default))
        return {"register": register}

    def failed(plugin: str, exc: Exception) -> None:
        log.warning("plugin %r failed in harness_register_config_sections, its defaults are ignored: %s: %s",
                    plugin, type(exc).__name__, exc)

    call_each("harness_register_config_sections", collect, pm=pm, on_error=failed)
    return defaults


class PluginConfigSearchPath(SearchPathPlugin):
    """Appends every plugin's config directory to harness's Hydra search path, and puts
    the defaults of the sections plugins declared where ``conf/config.yaml``'s defaults
    list picks them up (``harness_sections: plugins``, a node in Hydra's ConfigStore)."""

    def manipulate_search_path(self, search_path) -> None:
        if not is_harness_search_path(search_path):
            return
        pm = get_plugin_manager()
        for plugin, path in plugin_config_dirs(pm):
            search_path.append(provider=f"harness-plugin-{plugin}", path=path)
        from hydra.core.config_store import ConfigStore

        ConfigStore.instance().store(group=SECTIONS_GROUP, name=SECTIONS_OPTION, node=plugin_section_defaults(pm),
                                     package="_global_")

"""``harness plugins``: every plugin, its version, and what it provides."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from harness.config_search import plugin_config_dirs
from harness.errors import HarnessError
from harness.plugins import LOAD_ENV, PluginManager, call_each, get_plugin_manager, get_registry, installed_entry_points


def add_parser(sub) -> None:
    parser = sub.add_parser("plugins", help="list plugins, their versions and what they provide")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def describe() -> dict:
    """Plugins with what they provide, plugins that failed to load, and a registry error if any."""
    pm = get_plugin_manager()
    provides: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    registry_error = None
    try:
        registry = get_registry(pm)
        for entry in registry.entries():
            provides[entry.plugin][entry.kind].append(entry.qualified_name)
        for section in registry.declared_sections().values():
            provides[section.plugin]["config section"].append(section.name)
    except HarnessError as exc:
        registry_error = str(exc)
    for plugin, path in plugin_config_dirs(pm):
        provides[plugin]["config options"].extend(_options_in(path))
    plugins = []
    for info in sorted(pm.infos.values(), key=lambda i: i.name):
        offered = {k: v for k, v in provides[info.name].items()}
        commands = _commands_of(pm, info.name)
        if commands:
            offered["command"] = commands
        hooks = _other_hooks_of(pm, info.name)
        if hooks:
            offered["hooks"] = hooks
        plugins.append({
            "name": info.name, "version": info.version, "distribution": info.distribution,
            "entry_point": info.entry_point, "provides": offered,
        })
    failures = [{"name": f.name, "entry_point": f.entry_point, "error": f.error} for f in pm.failures.values()]
    installed = sorted(ep.name for ep in installed_entry_points())
    return {"plugins": plugins, "failed": failures, "registry_error": registry_error,
            "not_installed": pm.not_installed, "installed": installed}


def _options_in(search_path: str) -> list[str]:
    """``group=option`` for every config file a plugin's config directory ships."""
    folder = Path(search_path.removeprefix("file://"))
    if not folder.is_dir():  # a pkg:// location: listed by `harness-train --help`
        return []
    return sorted(f"{path.parent.name}={path.stem}" for path in folder.glob("*/*.yaml"))


def _commands_of(pm: PluginManager, name: str) -> list[str]:
    """The ``harness`` subcommands a plugin adds, read off a throwaway parser."""
    sub = argparse.ArgumentParser().add_subparsers()
    try:
        call_each("harness_register_commands", {"subparsers": sub}, pm=pm, only=name)
    except Exception as exc:
        return [f"(could not add its commands: {type(exc).__name__})"]
    return sorted(sub.choices)


def _other_hooks_of(pm, name: str) -> list[str]:
    """Hooks a plugin implements besides registering components and commands
    (run events, sweep events, config checks), without the ``harness_`` prefix."""
    names = {caller.name for caller in pm.get_hookcallers(pm.get_plugin(name)) or []}
    return sorted(n.removeprefix("harness_") for n in names if not n.startswith("harness_register_"))


def run(args) -> int:
    report = describe()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 1 if report["failed"] or report["registry_error"] or report["not_installed"] else 0


def render(report: dict) -> str:
    lines = []
    for plugin in report["plugins"]:
        lines.append(f"{plugin['name']} {plugin['version']}  ({plugin['distribution']}: {plugin['entry_point']})")
        for kind, names in sorted(plugin["provides"].items()):
            lines.append(f"    {kind + ':':<18}{', '.join(names)}")
        if not plugin["provides"]:
            lines.append("    (nothing registered)")
    for failure in report["failed"]:
        lines.append(f"{failure['name']}  FAILED TO LOAD ({failure['entry_point']}): {failure['error']}")
    if report["registry_error"]:
        lines.append(f"registry error: {report['registry_error']}")
    if report["not_installed"]:
        lines.append(f"{LOAD_ENV} names plugins that are not installed: {', '.join(report['not_installed'])} "
                     f"(installed: {', '.join(report['installed']) or 'none'})")
    if not report["plugins"] and not report["failed"]:
        lines.append("no plugins loaded (is HARNESS_LOAD_PLUGINS set?)")
    return "\n".join(lines)

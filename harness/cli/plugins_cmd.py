"""``harness plugins``: every plugin, its version, and what it provides."""

from __future__ import annotations

import json
from collections import defaultdict

from harness.errors import HarnessError
from harness.plugins import load_plugins
from harness.registry import Registry


def add_parser(sub) -> None:
    parser = sub.add_parser("plugins", help="list plugins, their versions and what they provide")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def describe() -> dict:
    """Plugins with what they provide, plugins that failed to load, and a registry error if any."""
    pm = load_plugins()
    provides: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    registry_error = None
    try:
        for entry in Registry(pm).entries():
            provides[entry.plugin][entry.kind].append(entry.qualified_name)
    except HarnessError as exc:
        registry_error = str(exc)
    plugins = [
        {
            "name": info.name, "version": info.version, "distribution": info.distribution,
            "entry_point": info.entry_point, "provides": {k: v for k, v in provides[info.name].items()},
        }
        for info in sorted(pm.infos.values(), key=lambda i: i.name)
    ]
    failures = [{"name": f.name, "entry_point": f.entry_point, "error": f.error} for f in pm.failures.values()]
    return {"plugins": plugins, "failed": failures, "registry_error": registry_error}


def run(args) -> int:
    report = describe()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
    return 1 if report["failed"] or report["registry_error"] else 0


def render(report: dict) -> str:
    lines = []
    for plugin in report["plugins"]:
        lines.append(f"{plugin['name']} {plugin['version']}  ({plugin['distribution']}: {plugin['entry_point']})")
        for kind, names in sorted(plugin["provides"].items()):
            lines.append(f"    {kind + ':':<18}{', '.join(names)}")
        if not plugin["provides"]:
            lines.append("    (run-event hooks only)")
    for failure in report["failed"]:
        lines.append(f"{failure['name']}  FAILED TO LOAD ({failure['entry_point']}): {failure['error']}")
    if report["registry_error"]:
        lines.append(f"registry error: {report['registry_error']}")
    if not report["plugins"] and not report["failed"]:
        lines.append("no plugins loaded (is HARNESS_LOAD_PLUGINS set?)")
    return "\n".join(lines)

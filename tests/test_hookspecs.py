"""The hook surface and its documentation cannot drift apart: names and signatures."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from harness import hookspecs

PLUGINS_DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def declared_hooks() -> dict[str, object]:
    return {
        name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("harness_")
    }


def documented_hooks() -> dict[str, str]:
    """``{hook: signature}`` from the hook reference table of docs/plugins.md."""
    section = PLUGINS_DOC.read_text().split("## Hook reference", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\|\s*`(harness_\w+)\(([^)]*)\)`", section, flags=re.MULTILINE))


def test_every_hook_has_a_docstring_naming_each_parameter():
    for name, fn in declared_hooks().items():
        doc = inspect.getdoc(fn)
        assert doc and len(doc) > 40, f"{name} has no real docstring"
        for parameter in inspect.signature(fn).parameters:
            assert f":param {parameter}:" in doc, f"{name} does not document its parameter {parameter!r}"


def test_the_plugin_docs_list_every_hook_with_its_signature():
    declared, documented = declared_hooks(), documented_hooks()
    assert set(declared) - set(documented) == set(), f"hooks missing from docs/plugins.md: {sorted(set(declared) - set(documented))}"
    assert set(documented) - set(declared) == set(), f"docs/plugins.md documents hooks that do not exist: {sorted(set(documented) - set(declared))}"
    for name, fn in declared.items():
        arguments = ", ".join(inspect.signature(fn).parameters)
        assert documented[name] == arguments, f"docs/plugins.md shows {name}({documented[name]}), declared ({arguments})"


def test_every_hook_is_a_pluggy_hookspec():
    for name, fn in declared_hooks().items():
        assert hasattr(fn, "harness_spec"), f"{name} is not marked with @hookspec"

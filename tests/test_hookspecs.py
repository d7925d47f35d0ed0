"""The hook surface and its documentation cannot drift apart."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from harness import hookspecs

README = Path(__file__).resolve().parents[1] / "README.md"


def declared_hooks() -> dict[str, object]:
    return {
        name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("harness_")
    }


def documented_hooks() -> set[str]:
    section = README.read_text().split("## Plugin hooks", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`(harness_\w+)`", section, flags=re.MULTILINE))


def test_every_hook_has_a_docstring():
    for name, fn in declared_hooks().items():
        assert inspect.getdoc(fn) and len(inspect.getdoc(fn)) > 40, f"{name} has no real docstring"


def test_readme_hook_table_matches_the_declared_hooks():
    declared, documented = set(declared_hooks()), documented_hooks()
    assert declared - documented == set(), f"hooks missing from README's 'Plugin hooks' table: {sorted(declared - documented)}"
    assert documented - declared == set(), f"README documents hooks that do not exist: {sorted(documented - declared)}"


def test_every_hook_is_a_pluggy_hookspec():
    for name, fn in declared_hooks().items():
        assert hasattr(fn, "harness_spec"), f"{name} is not marked with @hookspec"

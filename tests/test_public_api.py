"""Plugins import only the declared public API: ``harness`` (its ``__all__``) and ``harness.testing``.

The built-in plugins come through the same door as third-party ones, so they may use
nothing a third party could not; the example plugin shows what a third party writes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import harness

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = {"harness", "harness.testing"}
PLUGIN_SOURCES = sorted(
    [p for p in (ROOT / "plugins").glob("harness_*/**/*.py")]
    + [p for p in (ROOT / "examples").glob("*/src/**/*.py")]
    + [p for p in (ROOT / "examples").glob("*/tests/*.py")]
)


def harness_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every import of harness or one of its modules."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and (node.module == "harness" or node.module.startswith("harness.")):
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "harness" or alias.name.startswith("harness."):
                    found.append((node.lineno, alias.name, []))
    return found


def test_there_are_plugin_sources_to_check():
    assert len(PLUGIN_SOURCES) > 40


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_api(path):
    for line, module, names in harness_imports(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        assert module in PUBLIC_MODULES, f"{where} imports the private module {module}; use `from harness import ...`"
        if module == "harness":
            private = [n for n in names if n not in harness.__all__]
            assert not private, f"{where} imports {private} from harness, which harness.__all__ does not declare"


def test_every_public_name_exists():
    missing = [name for name in harness.__all__ if not hasattr(harness, name)]
    assert not missing


def test_the_core_names_no_dataset_tracker_or_engine():
    """The core knows plugins only through hooks: no built-in plugin is imported or named in its code."""
    for path in sorted((ROOT / "harness").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert not (module or "").startswith(("harness_", "mlflow")), f"{path.relative_to(ROOT)} imports {module}"
        text = path.read_text().lower()
        for word in ("mnist", "idx3", "mlflow_tracking_uri", "mlflowclient"):
            assert word not in text, f"{path.relative_to(ROOT)} mentions {word!r}"

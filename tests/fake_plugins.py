"""Install throwaway plugin distributions on ``sys.path`` for a test.

A folder with ``<name>-<version>.dist-info/{METADATA,entry_points.txt}`` next to a
module is all ``importlib.metadata`` needs to see an installed distribution, so these
plugins go through exactly the entry-point door a pip-installed plugin uses.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_distribution(root: Path, dist: str, plugins: dict[str, str], version: str = "1.2.3") -> Path:
    """``plugins`` maps entry-point name -> module source; returns the folder to put on sys.path."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[harness]"]
    for name, source in plugins.items():
        module = f"{dist.replace('-', '_')}_{name}"
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        lines.append(f"{name} = {module}")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root

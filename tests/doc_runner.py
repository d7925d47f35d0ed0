"""Run a Markdown page's code blocks, in order, the way a reader would.

* A block whose first line is ``# file: PATH`` is written to ``<work>/src/PATH``
  (a plugin package, its ``pyproject.toml``, a config file).
* Once a ``pyproject.toml`` with ``[project.entry-points.harness]`` has been written, the
  package is "installed" for what follows: a ``.dist-info`` with those entry points goes
  next to it on ``sys.path`` / ``PYTHONPATH``, which is what ``pip install`` leaves.
* ``python`` blocks are executed in one namespace, in the page's order.
* ``console`` blocks: each ``$ command`` runs in ``<work>`` with the project's
  ``.venv/bin`` first on ``PATH``; it must exit 0, and the lines after it (until the next
  ``$``) must appear in its output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    language: str
    text: str
    line: int

    @property
    def file(self) -> str | None:
        first = self.text.split("\n", 1)[0]
        return first.removeprefix("# file:").strip() if first.startswith("# file:") else None


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def install_entry_points(src: Path, pyproject: Path) -> None:
    """What ``pip install`` leaves for importlib.metadata: METADATA and entry_points.txt."""
    project = tomllib.loads(pyproject.read_text())["project"]
    dist = src / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")


def run_console(block: Block, work: Path, env: dict[str, str], page: Path) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands and line.strip():
            commands[-1][1].append(line.strip())
    for command, expected in commands:
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        where = f"{page.name}:{block.line}: `{command}`"
        assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        for want in expected:
            assert want in done.stdout + done.stderr, f"{where}: expected output line {want!r} not in:\n{done.stdout[-3000:]}"


def run_page(page: Path, work: Path, extra_env: dict[str, str] | None = None) -> None:
    """Every block of ``page``, in order (see the module docstring)."""
    from harness.plugins import reset_plugin_manager

    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]), **(extra_env or {})}
    namespace: dict[str, object] = {"__name__": f"doc:{page.name}"}
    sys.path.insert(0, str(src))
    before = set(sys.modules)
    try:
        for block in blocks(page):
            if block.file:
                target = src / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text)
                if target.name == "pyproject.toml":
                    install_entry_points(src, target)
                    reset_plugin_manager()
            elif block.language == "python":
                reset_plugin_manager()
                code = compile(block.text, f"{page.name}:{block.line}", "exec")
                exec(code, namespace)  # noqa: S102 (the page's own examples)
            elif block.language == "console":
                run_console(block, work, env, page)
    finally:
        sys.path.remove(str(src))
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            if module is not None and str(getattr(module, "__file__", "") or "").startswith(str(src)):
                del sys.modules[name]
        reset_plugin_manager()

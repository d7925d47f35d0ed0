"""``docs/chapter.md`` cannot rot: every command it shows runs, in its documented quick version.

The guide puts each command in a ``bash`` block and, right under it, a line
``Quick (the tests run it): `COMMAND` `` whose command is the shown one with options
appended that shrink it (fewer examples and epochs, no tracking). This test checks that
pairing for every block (a quick version must *extend* its command, never change it),
that every figure the guide shows exists, and runs each quick command in a fresh folder:
it must exit 0 (a preset that diverges by design included) and print what the guide says
to look for (``expect: TEXT`` at the end of the quick line, when given).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "chapter.md"
BIN = Path(sys.executable).parent
QUICK = re.compile(r"^Quick \(the tests run it\): `([^`]+)`(?:\s+expect: `([^`]+)`)?\s*$")


def guide_commands() -> list[tuple[str, str, str | None]]:
    """``(shown command, quick command, expected text)`` for every bash block of the guide."""
    lines = GUIDE.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            end = lines.index("```", i + 1)
            block = [line for line in lines[i + 1:end] if line.strip() and not line.lstrip().startswith("#")]
            shown = " ".join(part.rstrip("\\").strip() for part in block)
            following = next((line for line in lines[end + 1:] if line.strip()), "")
            match = QUICK.match(following.strip())
            assert match, f"docs/chapter.md: the block `{shown}` needs a 'Quick (the tests run it): `...`' line under it"
            found.append((shown, match.group(1), match.group(2)))
            i = end + 1
        else:
            i += 1
    return found


COMMANDS = guide_commands()


def test_the_guide_walks_every_section_of_the_chapter():
    headings = [line[3:].lower() for line in GUIDE.read_text().splitlines() if line.startswith("## ")]
    for topic in ("learning problem", "derivatives", "graphs", "backpropagation", "descent", "learning rate",
                  "layer", "vanishing", "automatic differentiation", "gradient checking"):
        assert any(topic in heading for heading in headings), f"no section about {topic!r}"
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("shown, quick, expect", COMMANDS, ids=[c[0][:60] for c in COMMANDS])
def test_quick_versions_extend_the_commands_they_shrink(shown, quick, expect):
    assert shlex.split(quick)[: len(shlex.split(shown))] == shlex.split(shown), f"{quick!r} does not extend {shown!r}"


def test_every_figure_the_guide_shows_is_committed_and_small():
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", GUIDE.read_text())
    assert len(figures) >= 5
    for figure in figures:
        path = (GUIDE.parent / figure).resolve()
        assert path.is_file(), f"docs/chapter.md shows {figure}, which does not exist"
        assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size < 250_000, f"{figure}: a small PNG"


@pytest.mark.slow
@pytest.mark.parametrize("shown, quick, expect", COMMANDS, ids=[c[0][:60] for c in COMMANDS])
def test_the_quick_version_of_every_command_runs(shown, quick, expect, tmp_path):
    argv = shlex.split(quick)
    if argv[0] == "python":  # a benchmark script of this checkout
        argv = [sys.executable, str(ROOT / argv[1]), *argv[2:]]
    else:
        argv[0] = str(BIN / argv[0])
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("HARNESS_LOAD_PLUGINS", None)
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{quick}\nexit {done.returncode}\n{output[-3000:]}"
    if expect:
        assert expect in output, f"{quick}: the guide says to look for {expect!r}\n{output[-3000:]}"

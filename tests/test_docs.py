"""The documentation cannot drift from the code: every example in it runs.

The README and every page of docs/ run as a reader would run them (tests/doc_runner.py,
whose grammar docs/development.md gives); docs/chapter.md has its own test
(tests/test_chapter_guide.py). The tables of plugins, config groups, presets, datasets and
diagnostics metrics are compared with what the code registers, the numbers marked as
coming from result files with those files (tests/doc_figures.py), and the site is built
with ``mkdocs build --strict``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from doc_figures import check_page, vanishing_table
from doc_runner import ROOT, SHELL, blocks, run_page

DOCS = ROOT / "docs"
README = ROOT / "README.md"
PLUGINS = DOCS / "plugins.md"
# Pages whose blocks take long (several trainings, sweeps): run with the slow tests.
SLOW_PAGES = {"README.md", "sweeps.md", "diagnostics.md", "tracking.md", "training.md", "faults.md", "plugins.md"}
# Pages run here; chapter.md is run by tests/test_chapter_guide.py.
PAGES = [README] + sorted(p for p in DOCS.glob("*.md") if p.name != "chapter.md")
# Blocks the tests cannot run, and why (the page says so under each, "Not run by the tests: ...").
NOT_RUN = {
    ("README.md", "make train"): "the test suite itself, and a training of minutes",
    ("tracking.md", "mlflow models serve"): "builds an environment from the package index",
    ("sweeps.md", "pip install -e '.[postgres]'"): "needs a PostgreSQL server",
    ("sweeps.md", "pip install -e '.[slurm]'"): "needs a SLURM cluster",
    ("sweeps.md", "pip install -e '.[ray]'"): "needs the ray extra and a cluster",
    ("development.md", "mkdocs build"): "test_the_site_builds_strictly runs it into a temporary folder",
}


def plugins_json() -> dict:
    done = subprocess.run([str(Path(sys.executable).parent / "harness"), "plugins", "--json"], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def table(text: str, header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@pytest.mark.parametrize("page", [pytest.param(p, marks=[pytest.mark.slow] if p.name in SLOW_PAGES else [],
                                               id=p.name) for p in PAGES])
def test_every_block_of_the_page_runs_as_written(page, tmp_path):
    """Every command and Python block of ``page``, in order, in a fresh folder (or its
    documented shrunk form); quoted output lines must appear."""
    run_page(page, tmp_path)


def test_blocks_the_tests_cannot_run_are_few_and_say_why():
    skipped = {}
    for page in [README, *DOCS.glob("*.md")]:
        for block in blocks(page):
            if block.language in SHELL and block.not_run is not None:
                first = next(line for line in block.text.splitlines() if line.strip() and not line.startswith("#"))
                key = next((k for k in NOT_RUN if k[0] == page.name and k[1] in first), (page.name, first))
                skipped[key] = block.not_run
    assert set(skipped) == set(NOT_RUN), "a block is skipped that tests/test_docs.py does not list (or no longer)"
    assert all(len(reason) > 20 for reason in skipped.values())


def test_every_shell_and_python_block_is_of_a_kind_the_runner_knows():
    for page in [README, *DOCS.glob("*.md")]:
        for block in blocks(page):
            assert block.language in ("bash", "console", "python", "yaml", "toml", "text", ""), \
                f"{page.name}:{block.line}: a ```{block.language} block; use bash, console or python to have it run"
            if block.language == "":
                assert not re.search(r"^\s*\$ |harness-train|^\s*import ", block.text, re.MULTILINE), \
                    f"{page.name}:{block.line}: commands or code in an unmarked block are not run; mark it console/python"


def test_figures_quoted_come_from_the_result_files():
    assert sum(check_page(page) for page in [README, *DOCS.glob("*.md")]) >= 10


def test_the_vanishing_grid_is_the_result_file():
    assert vanishing_table() in (DOCS / "diagnostics.md").read_text()


def test_the_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(pictures) >= 3
    for picture in pictures:
        path = ROOT / picture
        assert path.is_file(), f"README.md shows {picture}, which does not exist"
        assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size < 250_000, f"{picture}: a small PNG"
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).is_file(), f"README.md links {target}, which does not exist"
    for command in ("make train", "make test", "make test-integration", "make example-plugin"):
        assert command in text


def test_commands_are_called_one_way():
    """After the PATH note (docs/index.md, README.md), commands are bare: no .venv/bin/harness."""
    for page in [README, *DOCS.glob("*.md")]:
        for block in blocks(page):
            assert ".venv/bin/harness" not in block.text, f"{page.name}:{block.line}: call harness bare"


def test_the_plugin_table_is_the_registry():
    rows = {ticked(row[0])[0]: row for row in table(PLUGINS.read_text(), "| plugin |")}
    report = {p["name"]: p for p in plugins_json()["plugins"] if p["distribution"] == "harness-backprop"}
    assert set(rows) == set(report)
    for name, plugin in report.items():
        assert f"`{plugin['entry_point'].split(' = ')[1].split('.')[0]}`" in rows[name][0]
        shown = set(ticked(rows[name][1])) | set(ticked(rows[name][0]))
        for kind in ("engine", "layer", "activation", "loss", "optimizer", "schedule", "gradient_checker", "dataset"):
            for component in plugin["provides"].get(kind, []):
                assert component.split(":")[-1] in shown, f"docs/plugins.md: {name} provides {kind} {component}"


def config_options() -> dict[str, set[str]]:
    options: dict[str, set[str]] = {}
    for folder in (ROOT / "conf").iterdir():
        if folder.is_dir() and not folder.name.startswith(("hydra", "_")):
            options.setdefault(folder.name, set()).update(p.stem for p in folder.glob("*.yaml"))
    for plugin in plugins_json()["plugins"]:
        for option in plugin["provides"].get("config options", []):
            group, name = option.split("=", 1)
            options.setdefault(group, set()).add(name)
    return options


def test_the_config_group_table_is_the_config():
    rows = {ticked(row[0])[0]: set(ticked(row[1])) for row in table((DOCS / "training.md").read_text(), "| group |")}
    actual = {group: names for group, names in config_options().items() if names}
    assert set(rows) == set(actual)
    for group, names in actual.items():
        assert rows[group] == names, f"docs/training.md, group {group}: shows {rows[group]}, the config has {names}"


def test_every_preset_is_described():
    described = set()
    for page in ("training.md", "sweeps.md"):
        described |= {ticked(row[0])[0] for row in table((DOCS / page).read_text(), "| preset |")}
    assert described == config_options()["experiment"]


def test_the_dataset_table_is_the_registry():
    rows = {ticked(row[0])[0] for row in table((DOCS / "data.md").read_text(), "| dataset |")}
    registered = {name for p in plugins_json()["plugins"] for name in p["provides"].get("dataset", [])}
    assert rows == registered


def test_the_diagnostics_table_is_what_a_run_records(tmp_path):
    from harness.testing import train

    layers = "[{type: dense, units: 8}, {type: relu}, {type: dense, units: 8}, {type: sigmoid}, {type: dense, units: auto}]"
    train(["data=blobs", f"model.layers={layers}", "training.epochs=2", "diagnostics.enabled=true",
           "diagnostics.every_steps=2"], output_dir=tmp_path)
    records = json.loads(next(tmp_path.rglob("records.json")).read_text())
    recorded = {key.split("/")[0] for row in records for key in row if key != "step"}
    rows = table((DOCS / "diagnostics.md").read_text(), "| metric |")
    shown = {name.split("/")[0] for row in rows for name in ticked(row[0])}
    assert recorded == shown, f"recorded {sorted(recorded)}, docs/diagnostics.md shows {sorted(shown)}"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (the test extra has it)")
def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site"),
                           "--config-file", str(ROOT / "mkdocs.yml")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()


def test_the_plugin_guide_covers_every_component_kind():
    text = PLUGINS.read_text()
    for hook in ("harness_register_layers", "harness_register_activations", "harness_register_losses",
                 "harness_register_optimizers", "harness_register_schedules", "harness_register_datasets",
                 "harness_register_engines", "harness_register_config_dirs", "harness_register_config_sections",
                 "harness_validate_config", "harness_run_artifacts", "harness_compare_runs", "harness_epoch_end"):
        assert any(hook in block.text for block in blocks(PLUGINS) if block.language == "python"), \
            f"docs/plugins.md has no working example of {hook}"
    assert "ConfigError" in text and "harness.validation" in text

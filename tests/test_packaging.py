"""The wheel carries the core, every built-in plugin and the Hydra configuration.

Marked ``network``: building the wheel fetches setuptools from the package index into
pip's isolated build environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_PACKAGES = ["harness_backprop", "harness_optim", "harness_gradcheck", "harness_datasets", "harness_mlflow",
                    "harness_progress", "harness_autograd", "harness_diagnostics", "harness_reports",
                    "harness_lessons"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")  # build from a copy: setuptools writes build/ in the tree
    for name in ("pyproject.toml", "README.md", "harness", "plugins", "conf"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (built,) = out.glob("harness_backprop-*.whl")
    return built


@pytest.mark.network
def test_wheel_contains_core_plugins_and_configs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "harness/conf/config.yaml" in names
    for group in ("model", "gd", "experiment", "remedy", "budget", "tracking"):
        assert any(n.startswith(f"harness/conf/{group}/") for n in names), group
    # Built-in plugins ship their own options, exactly as a third-party plugin does.
    for package, group in (("harness_backprop", "engine"), ("harness_autograd", "engine"), ("harness_optim", "optimizer"),
                           ("harness_optim", "schedule"), ("harness_datasets", "data"), ("harness_mlflow", "tracking"),
                           ("harness_diagnostics", "diagnostics"), ("harness_reports", "reports"),
                           ("harness_progress", "progress")):
        assert any(n.startswith(f"{package}/conf/{group}/") and n.endswith(".yaml") for n in names), (package, group)
    for package in BUILTIN_PACKAGES:
        assert f"{package}/__init__.py" in names
    assert "hydra_plugins/harness_searchpath/__init__.py" in names
    assert {"hydra_plugins/harness_optuna_sweeper/__init__.py", "hydra_plugins/harness_optuna_sweeper/_study.py",
            "harness/conf/experiment/lr_search.yaml"} <= names
    assert not any(n.startswith(("plugins/", "tests/", "conf/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[harness]" in text and "backprop = harness_backprop.plugin" in text


@pytest.mark.network
def test_installed_wheel_finds_its_configuration(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "from harness.resources import config_dir; print(config_dir())"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    )
    assert Path(where.stdout.strip()) == site / "harness" / "conf"
    composed = subprocess.run(
        [sys.executable, "-c", "from harness.cli.train import main; main()", "--cfg", "job", "optimizer=adam"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert composed.returncode == 0, composed.stderr
    assert "name: adam" in composed.stdout and "name: mnist_98" in composed.stdout


def _source_packages() -> set[str]:
    found = {"harness.conf", "hydra_plugins"}  # data dir and namespace package: no __init__.py
    for init in (ROOT / "harness").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for init in (ROOT / "plugins").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT / "plugins").parts))
    return found


def test_every_source_package_is_listed_for_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert _source_packages() == listed

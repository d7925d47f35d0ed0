"""The example third-party plugin, installed with pip the way users install plugins.

CI's acceptance, one test each: ``pip install ./examples/harness-example-plugin``;
``harness plugins`` lists it; ``harness check --plugin example`` passes; the plugin's
own pytest suite passes through harness's pytest plugin; ``harness-train`` trains with
its optimizer and layers, picked by Hydra overrides, and the run is in MLflow. The
install goes into a throwaway ``--target`` directory put on ``PYTHONPATH``, so the shared
environment is not modified; it is marked ``network`` because pip's isolated build
fetches setuptools from the package index.

Also here, without the network: nothing in the core names the plugin, and the
mechanism that lets a plugin add Hydra config options (``harness_register_config_dirs``
and the ``hydra_plugins`` search-path plugin) works for any plugin.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
from hydra.core.config_search_path import ConfigSearchPath
from mlflow.tracking import MlflowClient

from fake_plugins import make_distribution
from harness.config_search import PluginConfigSearchPath, plugin_config_dirs
from harness.plugins import load_plugins
from harness.resources import config_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harness-example-plugin"
BIN = Path(sys.executable).parent
LAYERS = "[{type:dense,units:16},{type:gelu},{type:gaussian_dropout,rate:0.1},{type:maxout,units:8,pieces:2},{type:dense,units:3}]"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """``(site, source)``: the plugin pip-installed into ``site``, built from a copy ``source``."""
    source = tmp_path_factory.mktemp("source") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", ".pytest_cache"))
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return site, source


def run(command: list[str], site: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("HARNESS_LOAD_PLUGINS", None)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, **kwargs)


# ------------------------------------------------------------- installed by pip


@pytest.mark.network
def test_harness_plugins_lists_it(installed):
    result = run([str(BIN / "harness"), "plugins"], installed[0])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "example 0.1.0  (harness-example-plugin: example = harness_example.plugin)" in result.stdout
    block = result.stdout.split("example 0.1.0", 1)[1].split("\n\n")[0]
    assert "layer:            backprop:gaussian_dropout, backprop:maxout" in block
    assert "activation:       backprop:gelu" in block and "optimizer:        lion" in block


@pytest.mark.network
def test_harness_check_passes_on_it(installed):
    result = run([str(BIN / "harness"), "check", "--plugin", "example"], installed[0])
    assert result.returncode == 0, result.stdout + result.stderr
    for component in ("backprop:gaussian_dropout", "backprop:maxout", "backprop:gelu", "lion"):
        assert re.search(rf"^{re.escape(component)} .* ok$", result.stdout, flags=re.MULTILINE), component
    assert result.stdout.rstrip().endswith("of plugin 'example': 12 passed, 0 failed, 0 skipped (all passed)")


@pytest.mark.network
def test_its_own_pytest_suite_passes_through_the_harness_pytest_plugin(installed):
    site, source = installed
    result = run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests"], site, cwd=source)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "test_conformance.py::test_conformance[backprop:gelu-central_difference] PASSED" in result.stdout
    assert "test_conformance.py::test_conformance[lion-optimizer_quadratic] PASSED" in result.stdout
    for case in ("backprop:maxout-resume", "warmup-schedule_contract", "spirals-dataset_contract"):
        assert f"test_conformance.py::test_conformance[{case}] PASSED" in result.stdout


@pytest.mark.network
def test_harness_train_uses_its_optimizer_and_layers_and_records_the_run(installed, tmp_path):
    command = [
        str(BIN / "harness-train"), "optimizer=lion", "optimizer.lr=0.003", f"model.layers={LAYERS}",
        "data=blobs", "training.epochs=2", "progress=never", "name=example_plugin", f"hydra.run.dir={tmp_path / 'run'}",
    ]
    result = run(command, installed[0], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run_info,) = client.search_runs([client.get_experiment_by_name("example_plugin").experiment_id])
    assert run_info.info.status == "FINISHED"
    params = run_info.data.params
    assert params["optimizer.name"] == "lion"
    assert [params[f"model.layers.{i}.type"] for i in range(5)] == ["dense", "gelu", "gaussian_dropout", "maxout", "dense"]
    assert 0.0 <= run_info.data.metrics["test_accuracy"] <= 1.0


@pytest.mark.network
def test_its_config_options_compose_by_name(installed, tmp_path):
    result = run([str(BIN / "harness-train"), "optimizer=lion", "model=gelu_mlp", "--cfg", "job"], installed[0], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "name: lion" in result.stdout and "type: maxout" in result.stdout


# ---------------------------------------------------------- no special treatment


def test_nothing_in_the_core_names_the_example_plugin():
    pattern = re.compile(r"harness[_-]example|['\"]example['\"]|gaussian_dropout|maxout|\blion\b", re.IGNORECASE)
    offenders = []
    for top in ("harness", "plugins", "conf"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".yaml", ".toml", ".md", ".txt", ".cfg"}:
                offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(path.read_text())]
    assert offenders == []


def test_the_example_is_an_ordinary_package_with_an_entry_point_in_the_harness_group():
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["harness"] == {"example": "harness_example.plugin"}
    conf = EXAMPLE / "src" / "harness_example" / "conf"
    assert (conf / "optimizer" / "lion.yaml").is_file() and (conf / "model" / "gelu_mlp.yaml").is_file()


# ------------------------------------------------- a plugin adds config options

CONFIG_PLUGIN = """
from pathlib import Path
from harness import hookimpl

@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "fancy_conf")
"""

MISSING_DIR_PLUGIN = """
from harness import hookimpl

@hookimpl
def harness_register_config_dirs(register):
    register("/no/such/config/dir")
"""


@pytest.fixture
def config_plugin(tmp_path, monkeypatch):
    """A plugin distribution whose only job is an ``optimizer/fancy.yaml`` config option."""
    root = make_distribution(tmp_path / "dist", "fancyconf", {"fancy": CONFIG_PLUGIN, "missing": MISSING_DIR_PLUGIN})
    (root / "fancy_conf" / "optimizer").mkdir(parents=True)
    (root / "fancy_conf" / "optimizer" / "fancy.yaml").write_text("name: sgd\nlr: 0.25\n")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    yield root / "fancy_conf"
    for name in [m for m in sys.modules if m.startswith("fancyconf")]:
        del sys.modules[name]


def test_plugins_register_config_dirs_and_bad_ones_are_skipped(config_plugin, caplog):
    dirs = plugin_config_dirs(load_plugins(use_env=False))
    assert ("fancy", str(config_plugin.resolve())) in dirs
    assert not any(plugin == "missing" for plugin, _ in dirs)
    assert "plugin 'missing' registered config dir '/no/such/config/dir', which is not a directory" in caplog.text


def _search_path(main: str) -> ConfigSearchPath:
    search_path = ConfigSearchPathImpl()
    search_path.append("hydra", "pkg://hydra.conf")
    search_path.append("main", main)
    return search_path


def test_the_search_path_plugin_extends_only_harness_s_own_config(config_plugin, tmp_path):
    ours = _search_path(str(config_dir()))
    PluginConfigSearchPath().manipulate_search_path(ours)
    elements = [(e.provider, e.path) for e in ours.get_path()]
    assert elements[:2] == [("hydra", "pkg://hydra.conf"), ("main", str(config_dir()))]  # the core's first: it wins
    assert ("harness-plugin-fancy", str(config_plugin.resolve())) in elements[2:]

    other = _search_path(str(tmp_path))
    PluginConfigSearchPath().manipulate_search_path(other)
    assert [e.provider for e in other.get_path()] == ["hydra", "main"]


def test_hydra_finds_the_search_path_plugin_and_composes_the_plugin_s_option(config_plugin, compose_config):
    cfg = compose_config(["optimizer=fancy"])
    assert cfg.optimizer.name == "sgd" and cfg.optimizer.lr == 0.25
    assert compose_config(["optimizer=adam"]).optimizer.name == "adam"  # the core's options are untouched

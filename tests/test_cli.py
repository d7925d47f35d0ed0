"""The ``harness`` command: plugins listing, the env switch, a broken plugin, data fetch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fake_plugins import make_distribution

HARNESS = str(Path(sys.executable).with_name("harness"))


def harness(*args, env=None, **kwargs):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([HARNESS, *args], capture_output=True, text=True, env=full_env, timeout=120, **kwargs)


def test_plugins_lists_builtins_with_versions_and_what_they_provide():
    result = harness("plugins")
    assert result.returncode == 0, result.stderr
    assert "backprop 0.1.0  (harness-backprop: backprop = harness_backprop.plugin)" in result.stdout
    lines = result.stdout.splitlines()
    assert any(line.split() == ["optimizer:", "adam,", "momentum,", "nesterov,", "random_search,", "sgd"] for line in lines)
    assert any(line.strip().startswith("layer:") and "backprop:dense" in line for line in lines)


def test_plugins_shows_the_commands_and_hooks_a_plugin_adds():
    report = json.loads(harness("plugins", "--json").stdout)
    mlflow = next(p for p in report["plugins"] if p["name"] == "mlflow")
    assert mlflow["provides"]["command"] == ["compare", "runs"]
    assert {"run_start", "run_end", "sweep_start", "sweep_end"} <= set(mlflow["provides"]["hooks"])


def test_env_switch_naming_a_plugin_that_is_not_installed_says_so():
    result = harness("plugins", env={"HARNESS_LOAD_PLUGINS": "optim,nope"})
    assert result.returncode == 1
    assert "HARNESS_LOAD_PLUGINS names plugins that are not installed: nope (installed: autograd, backprop," in result.stdout


def test_plugins_json():
    report = json.loads(harness("plugins", "--json").stdout)
    names = {p["name"] for p in report["plugins"]}
    assert {"backprop", "optim", "gradcheck", "datasets", "mlflow", "progress"} <= names
    assert report["failed"] == [] and report["registry_error"] is None


def test_env_switch_loads_none_or_some():
    assert "no plugins loaded" in harness("plugins", env={"HARNESS_LOAD_PLUGINS": ""}).stdout
    report = json.loads(harness("plugins", "--json", env={"HARNESS_LOAD_PLUGINS": "optim"}).stdout)
    assert [p["name"] for p in report["plugins"]] == ["optim"]


def test_broken_plugin_is_reported_and_runs_without_it_still_work(tmp_path):
    path = make_distribution(tmp_path / "dist", "brokenplug", {"broken": "import no_such_module_anywhere\n"})
    env = {"PYTHONPATH": str(path)}
    result = harness("plugins", env=env)
    assert result.returncode == 1
    assert "broken  FAILED TO LOAD (broken = brokenplug_broken): ModuleNotFoundError: No module named 'no_such_module_anywhere'" in result.stdout
    assert "backprop 0.1.0" in result.stdout
    train = subprocess.run(
        [str(Path(sys.executable).with_name("harness-train")), "data=blobs", "model.layers.4.units=3",
         "tracking=none", "training.epochs=1", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=120, cwd=tmp_path,
    )
    assert train.returncode == 0, train.stderr
    assert "test accuracy" in train.stderr + train.stdout


def test_a_missing_hydra_option_names_the_plugin_that_failed_to_load(tmp_path):
    path = make_distribution(tmp_path / "dist", "brokenplug", {"rmsprop": "import no_such_module_anywhere\n"})
    command = [str(Path(sys.executable).with_name("harness-train")), "optimizer=rmsprop", f"hydra.run.dir={tmp_path / 'run'}"]
    broken = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(path)},
                            timeout=120, cwd=tmp_path)
    assert broken.returncode == 1
    assert broken.stderr.splitlines()[0] == (
        "In 'config': Could not find 'optimizer/rmsprop'; plugin rmsprop failed to load "
        "(ModuleNotFoundError: No module named 'no_such_module_anywhere'): it may provide that option"
    )
    healthy = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert healthy.returncode == 1
    assert healthy.stderr.splitlines()[0] == "In 'config': Could not find 'optimizer/rmsprop'"


def test_unknown_dataset_fetch_is_one_line():
    result = harness("data", "fetch", "cifar")
    assert result.returncode == 2
    assert result.stderr.strip() == "harness: error: unknown dataset 'cifar'; known: blobs, fashion_mnist, mnist, moons"


def test_help_lists_commands():
    result = harness("--help")
    assert "plugins" in result.stdout and "data" in result.stdout

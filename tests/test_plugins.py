"""Plugin discovery, the registry and its one-line errors."""

from __future__ import annotations

import importlib
import sys

import pytest

from fake_plugins import make_distribution
from harness.errors import ConfigError, PluginError
from harness.plugins import load_plugins
from harness.registry import Registry

BUILTINS = {"backprop", "optim", "gradcheck", "datasets", "mlflow", "progress", "autograd", "diagnostics", "reports", "lessons"}

GOOD = """
from harness import hookimpl

class Swish:
    kind = "swish"
    def __init__(self, beta: float = 1.0):
        self.beta = beta

@hookimpl
def harness_register_activations(register):
    register("swish", Swish, engine="backprop")
"""

DUPLICATE = """
from harness import hookimpl

@hookimpl
def harness_register_optimizers(register):
    register("sgd", dict)
"""

BROKEN = """
raise ImportError("this plugin needs a library that is not installed")
"""


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    def install(plugins, dist="thirdparty"):
        path = make_distribution(tmp_path / dist, dist, plugins)
        monkeypatch.syspath_prepend(str(path))
        importlib.invalidate_caches()
        return path

    yield install
    for name in [m for m in sys.modules if m.startswith("thirdparty")]:
        del sys.modules[name]


def test_builtins_come_through_the_entry_point_group(plugins):
    assert set(plugins.infos) >= BUILTINS
    for name in BUILTINS:
        info = plugins.infos[name]
        assert info.distribution == "harness-backprop" and info.entry_point.startswith(f"{name} = harness_")


def test_third_party_plugin_is_loaded_and_attributed(third_party):
    third_party({"extra": GOOD})
    registry = Registry(load_plugins(use_env=False))
    entry = registry.get("activation", "swish", engine="backprop")
    assert entry.plugin == "extra"
    assert registry.pm.infos["extra"].version == "1.2.3"


def test_plugin_that_fails_to_import_is_reported_and_others_still_work(third_party):
    third_party({"broken": BROKEN})
    pm = load_plugins(use_env=False)
    assert "broken" in pm.failures
    failure = pm.failures["broken"]
    assert "ImportError: this plugin needs a library" in failure.error
    assert failure.entry_point == "broken = thirdparty_broken"
    registry = Registry(pm)
    assert registry.get("optimizer", "sgd").plugin == "optim"
    with pytest.raises(PluginError, match=r"plugins that failed to load: broken \(ImportError"):
        registry.get("optimizer", "lion")


def test_name_registered_twice_names_both_plugins_and_entry_points(third_party):
    third_party({"dupe": DUPLICATE})
    with pytest.raises(PluginError) as excinfo:
        Registry(load_plugins(use_env=False))
    message = str(excinfo.value)
    assert "\n" not in message
    assert "optimizer 'sgd' is registered twice" in message
    assert "'optim' (entry point 'optim = harness_optim.plugin')" in message
    assert "'dupe' (entry point 'dupe = thirdparty_dupe')" in message


def test_unknown_name_lists_the_known_ones(plugins):
    registry = Registry(plugins)
    with pytest.raises(PluginError) as excinfo:
        registry.get("optimizer", "adma")
    assert str(excinfo.value) == "unknown optimizer 'adma'; known: adam, momentum, nesterov, random_search, sgd"


def test_unknown_option_lists_accepted_ones(plugins):
    registry = Registry(plugins)
    with pytest.raises(ConfigError) as excinfo:
        registry.create("optimizer", "sgd", {"lr": 0.1, "betas": [0.9]}, section="optimizer")
    assert str(excinfo.value) == (
        "optimizer: optimizer 'sgd' does not accept 'betas'; accepted: lr, weight_decay, clip_norm, clip_value "
        "(`optimizer.name=sgd` keeps the options of the optimizer it replaces; select `optimizer=sgd` to get its own)"
    )


def test_factory_range_error_is_prefixed_with_the_section(plugins):
    with pytest.raises(ConfigError, match=r"^optimizer\.momentum must be a number in \[0, 1\), got 1\.5$"):
        Registry(plugins).create("optimizer", "momentum", {"lr": 0.1, "momentum": 1.5}, section="optimizer")


def test_env_switch_loads_only_named_plugins(monkeypatch):
    monkeypatch.setenv("HARNESS_LOAD_PLUGINS", "optim, backprop")
    assert set(load_plugins().infos) == {"optim", "backprop"}
    monkeypatch.setenv("HARNESS_LOAD_PLUGINS", "")
    assert load_plugins().infos == {}


def test_per_engine_names_are_separate(plugins):
    registry = Registry(plugins)
    assert registry.has("layer", "dense", engine="backprop")
    assert not registry.has("layer", "dense", engine="elsewhere")
    with pytest.raises(PluginError, match=r"unknown layer 'dense' for engine 'elsewhere'; known: \(none\)"):
        registry.get("layer", "dense", engine="elsewhere")

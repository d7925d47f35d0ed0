"""Composed configs are validated before anything runs, with one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import flatten, validate
from harness.errors import ConfigError, PluginError
from harness.registry import Registry
from harness.resources import config_dir
from harness.training.experiment import build_parts


def test_default_config_validates(compose_config):
    settings = validate(compose_config())
    assert settings.gd.mode == "minibatch" and settings.gd.batch_size == 128
    assert settings.optimizer["name"] == "momentum"
    assert settings.model.loss_spec() == ("softmax_cross_entropy", {})


@pytest.mark.parametrize(
    "override, message",
    [
        ("gd.batch_size=0", "gd.batch_size must be an integer >= 1, got 0"),
        ("training.epochs=0", "training.epochs must be an integer >= 1, got 0"),
        ("dtype=float16", "dtype must be one of float32, float64, got 'float16'"),
        ("seed=-1", "seed must be an integer in [0, 4294967295], got -1"),
        ("training.epochs=abc", "training.epochs: Value 'abc' of type 'str' could not be converted to Integer"),
        ("gd.mode=online", "gd.mode must be one of batch, sgd, minibatch, got 'online'"),
        ("gd=sgd gd.batch_size=64",
         "gd.batch_size must be 1 or null with gd.mode=sgd (one example per step; for batches use gd=minibatch), got 64"),
        ("gd=batch gd.batch_size=64",
         "gd.batch_size must be null with gd.mode=batch (every example in every step; for batches use gd=minibatch), got 64"),
        ("seed=1" + "0" * 400, "seed must be an integer in [0, 4294967295], got 1" + "0" * 400),
    ],
)
def test_schema_errors_are_one_line_and_name_the_field(compose_config, override, message):
    with pytest.raises(ConfigError) as excinfo:
        validate(compose_config(override.split(" ")))
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer.lr=-1", "optimizer.lr must be > 0, got -1"),
        ("progress.bar=sometimes", "progress.bar must be one of auto, always, never, got 'sometimes'"),
        ("optimizer.momentum=1", "optimizer.momentum must be a number in [0, 1), got 1"),
        ("schedule=step", None),
        ("schedule.every=0", "schedule.every must be an integer >= 1, got 0"),
        ("data.val_size=0", "data.val_size must be an integer in [1, 59999], got 0"),
        ("model.layers.0.units=0", "model.layers[0].units must be an integer >= 1, got 0"),
        ("model.layers.0.init=orthogonal", "model.layers[0].init must be one of he, xavier, normal, got 'orthogonal'"),
        ("+model.layers.1.alpha=0.1", "model.layers[1]: activation 'relu' does not accept 'alpha'; accepted: (no options)"),
        ("optimizer.lr=1" + "0" * 400, "optimizer.lr must be > 0, got 1" + "0" * 400),
        ("+trainig.epochs=5", "unknown config section 'trainig': did you mean 'training'? (no loaded plugin reads 'trainig')"),
        ("+diagnostic.every_steps=5",
         "unknown config section 'diagnostic': did you mean 'diagnostics'? (no loaded plugin reads 'diagnostic')"),
    ],
)
def test_plugin_options_are_checked_before_any_data_is_loaded(compose_config, plugins, override, message):
    cfg = compose_config([override, "schedule=step"] if override.startswith("schedule.") else [override])
    if message is None:
        build_parts(cfg, Registry(plugins))
        return
    with pytest.raises(ConfigError) as excinfo:
        build_parts(cfg, Registry(plugins))
    assert str(excinfo.value) == message


def test_a_cosine_schedule_never_rises(compose_config, plugins):
    with pytest.raises(ConfigError, match=r"^schedule.min_lr must be <= optimizer.lr \(0.1\) so the rate decays, got 5$"):
        build_parts(compose_config(["schedule=cosine", "schedule.min_lr=5"]), Registry(plugins))


def test_a_section_no_plugin_reads_is_reported_as_ignored(compose_config, plugins, caplog):
    build_parts(compose_config(["+notes.author=ada"]), Registry(plugins))
    assert "config section 'notes' is read by no loaded plugin, so it is ignored" in caplog.text


def test_a_section_other_values_interpolate_is_in_use(compose_config, plugins, caplog):
    # The vanishing preset's `deep:` knobs are read through ${oc.select:deep.width,64} and the like.
    parts = build_parts(compose_config(["+experiment=vanishing", "model=deep_mlp_residual", "deep.width=32"]), Registry(plugins))
    assert parts.settings.model.layers[0]["units"] == 32
    assert "deep" not in caplog.text


def test_unknown_names_list_what_exists(compose_config, plugins):
    with pytest.raises(PluginError, match=r"^unknown optimizer 'adma'; known: adam, momentum, nesterov, random_search, sgd$"):
        build_parts(compose_config(["optimizer.name=adma"]), Registry(plugins))
    with pytest.raises(PluginError, match=r"^model.layers\[1\]: unknown layer or activation 'rleu'"):
        build_parts(compose_config(["model.layers.1.type=rleu"]), Registry(plugins))


def _menu():
    """Every option of every group: the core's ``conf/`` and what the plugins ship."""
    from harness.config_search import plugin_config_dirs
    from harness.plugins import get_plugin_manager

    roots = [config_dir()] + [Path(path) for _, path in plugin_config_dirs(get_plugin_manager()) if "://" not in path]
    return [
        pytest.param(group.name, option.stem, id=f"{group.name}={option.stem}")
        for root in roots
        for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "experiment")
        for option in sorted(group.glob("*.yaml"))
    ]


def _default_groups() -> set[str]:
    import yaml

    defaults = yaml.safe_load((config_dir() / "config.yaml").read_text())["defaults"]
    return {next(iter(d)).removeprefix("optional ") for d in defaults if isinstance(d, dict)}


@pytest.mark.parametrize("group, option", _menu())
def test_every_config_group_option_builds(compose_config, plugins, group, option):
    prefix = "" if group in _default_groups() else "+"  # groups outside the defaults list are added
    overrides = [f"{prefix}{group}={option}"]
    if group == "data" and option == "blobs":
        overrides.append("model.layers.4.units=3")
    if group == "tracking" and option == "server":  # checked for reachability up front; none runs here
        with pytest.raises(ConfigError, match=r"^tracking\.uri: no MLflow tracking server answers at http://127\.0\.0\.1:5000 \("):
            build_parts(compose_config(overrides), Registry(plugins))
        return
    build_parts(compose_config(overrides), Registry(plugins))


def test_experiment_presets_compose(compose_config, plugins):
    for preset in sorted((config_dir() / "experiment").glob("*.yaml")):
        build_parts(compose_config([f"+experiment={preset.stem}"]), Registry(plugins))


def test_flatten_gives_dotted_params(compose_config):
    params = flatten(compose_config())
    assert params["optimizer.lr"] == "0.1"
    assert params["model.layers.0.type"] == "dense"
    assert params["gd.batch_size"] == "128"
    assert not any(key.startswith("hydra") for key in params)


def test_cli_prints_one_line_and_exits_2(tmp_path):
    exe = Path(sys.executable).with_name("harness-train")
    result = subprocess.run(
        [str(exe), "optimizer.lr=-1", "tracking=none", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "harness-train: error: optimizer.lr must be > 0, got -1"

"""The sweeper's shared composition gives every job exactly the config Hydra composes for it.

``ComposeOnce`` composes one template per distinct set of config-group choices and applies
each job's value overrides to a copy; these tests compose the same jobs both ways, Hydra's
and the template's, and compare them whole (YAML of the unresolved config, the struct
flag, Hydra's record of the overrides), then the errors bad overrides give.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.resources import config_dir
from hydra_plugins.harness_basic_sweeper import compose as compose_module
from hydra_plugins.harness_basic_sweeper.compose import ComposeOnce

MASTER = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "name=sweep"]

# Jobs of one sweep each: values only, choices and values, additions and deletions.
SWEEPS = {
    "seeds": [[f"seed={s}", "data.train_size=500", "training.epochs=1"] for s in range(4)],
    "values": [["optimizer.lr=0.01", "gd.batch_size=32"], ["optimizer.lr=0.1", "gd.batch_size=64"],
               ["optimizer.lr=1e-3", "gd.batch_size=128"]],
    "choices": [["optimizer=adam", "optimizer.lr=0.001", "seed=1"], ["optimizer=sgd", "optimizer.lr=0.1", "seed=1"],
                ["optimizer=adam", "optimizer.lr=0.003", "seed=2"], ["optimizer=momentum", "seed=3"]],
    "experiment": [["+experiment=mnist_fast", "seed=0"], ["+experiment=mnist_fast", "seed=1"],
                   ["+experiment=mnist_best", "seed=0"]],
    "add_delete": [["+extra=1", "~training.eval_batch_size"], ["+extra=2", "~training.eval_batch_size"],
                   ["++extra=3", "training.max_seconds=5"]],
    "structures": [["model.layers=[{type: dense, units: 8}]", "seed=0"], ["model.layers.0.units=32", "seed=1"],
                   ["tracking=none", "seed=2"], ["tracking=none", "seed=3", "hydra.job.chdir=true"]],
}


@pytest.fixture
def loaders():
    """Hydra's config loader for harness's config, the master config of a sweep, and a ComposeOnce."""
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="test"):
        hydra_loader = GlobalHydra.instance().config_loader()
        master = hydra_loader.load_configuration("config", overrides=MASTER, run_mode=RunMode.MULTIRUN)
        yield hydra_loader, master, ComposeOnce(hydra_loader)


def described(config) -> tuple:
    return (OmegaConf.to_yaml(config), OmegaConf.is_struct(config), OmegaConf.is_readonly(config.hydra),
            list(config.hydra.overrides.task), list(config.hydra.overrides.hydra), config.hydra.job.override_dirname)


@pytest.mark.parametrize("sweep", sorted(SWEEPS))
def test_each_job_equals_hydras_composition(loaders, sweep):
    hydra_loader, master, once = loaders
    for overrides in SWEEPS[sweep]:
        expected = hydra_loader.load_sweep_config(master, list(overrides))
        assert described(once.load_sweep_config(master, list(overrides))) == described(expected), overrides


def test_jobs_differing_in_values_share_one_template(loaders):
    _, master, once = loaders
    for overrides in SWEEPS["seeds"] + SWEEPS["choices"]:
        once.load_sweep_config(master, list(overrides))
    mine = [key for key in compose_module._templates if key[0] == once.token]
    # All the seeds share one; the choices sweep has three optimizers.
    assert len(mine) == 4


def test_jobs_do_not_share_the_template_object(loaders):
    _, master, once = loaders
    first = once.load_sweep_config(master, ["seed=1"])
    second = once.load_sweep_config(master, ["seed=2"])
    assert (first.seed, second.seed) == (1, 2)
    first.training.epochs = 99
    assert once.load_sweep_config(master, ["seed=3"]).training.epochs != 99


def test_a_new_sweep_drops_the_last_ones_templates(loaders):
    hydra_loader, master, once = loaders
    once.load_sweep_config(master, ["seed=1"])
    later = ComposeOnce(hydra_loader)
    later.load_sweep_config(master, ["seed=1"])
    assert {key[0] for key in compose_module._templates} == {later.token}


@pytest.mark.parametrize("overrides", [
    ["no_such_key=1"],                 # not in the config (struct)
    ["optimizer=no_such_optimizer"],   # not an option of the group
    ["+seed=3"],                       # adding a key that is there
    ["~no_such_key"],                  # deleting a key that is not
    ["seed=1,2"],                      # a sweep inside one job
])
def test_bad_overrides_fail_as_hydra_fails(loaders, overrides):
    hydra_loader, master, once = loaders
    with pytest.raises((ConfigCompositionException, OmegaConfBaseException, ValueError)) as hydra_error:
        hydra_loader.load_sweep_config(master, overrides)
    with pytest.raises(type(hydra_error.value)) as our_error:
        once.load_sweep_config(master, overrides)
    assert str(our_error.value) == str(hydra_error.value)


def test_is_the_default_sweeper():
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="test"):
        config = compose("config", return_hydra_config=True)
        optuna = compose("config", overrides=["+experiment=lr_search"], return_hydra_config=True)
    assert config.hydra.sweeper._target_ == "hydra_plugins.harness_basic_sweeper.sweeper.HarnessBasicSweeper"
    assert optuna.hydra.sweeper._target_.endswith("HarnessOptunaSweeper")  # an experiment's choice still wins

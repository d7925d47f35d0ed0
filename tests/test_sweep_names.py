"""A sweep's parent run is named by the experiment and the keys it varies, nothing else."""

from __future__ import annotations

from pathlib import Path

from harness import SweepInfo
from harness.cli.sweep import swept_keys
from harness_mlflow.sweep import parent_name


def sweep(name: str, overrides: list[str], params: dict[str, str]) -> SweepInfo:
    return SweepInfo(dir=Path("/tmp/x"), name=name, overrides=tuple(overrides), swept=swept_keys(overrides, params))


def test_parent_name_is_the_experiment_and_the_swept_keys_never_a_uri_or_a_path():
    overrides = ["tracking=server", "tracking.uri=http://10.1.2.3:5000", "hydra.sweep.dir=/scratch/me/sweeps",
                 "optimizer.lr=0.01,0.1", "seed=range(3)", "data.train_size=5000"]
    name = parent_name(sweep("lr_sweep", overrides, {"+budget": "epochs,time"}))
    assert name == "lr_sweep: optimizer.lr, seed, budget"


def test_parent_name_of_a_sweep_of_presets_only():
    assert parent_name(sweep("gd_comparison", [], {"gd": "batch,sgd,minibatch", "+budget": "epochs,time"})) == \
        "gd_comparison: gd, budget"

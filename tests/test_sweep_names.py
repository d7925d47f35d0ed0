"""A sweep's parent run is named by the experiment and the keys it varies, nothing else."""

from __future__ import annotations

from harness_mlflow.sweep import parent_name, swept_keys


def test_parent_name_is_the_experiment_and_the_swept_keys_never_a_uri_or_a_path():
    overrides = ["tracking=server", "tracking.uri=http://10.1.2.3:5000", "hydra.sweep.dir=/scratch/me/sweeps",
                 "optimizer.lr=0.01,0.1", "seed=range(3)", "data.train_size=5000"]
    name = parent_name("lr_sweep", swept_keys(overrides, {"+budget": "epochs,time"}))
    assert name == "sweep lr_sweep: optimizer.lr seed budget"


def test_parent_name_of_a_sweep_of_presets_only():
    assert parent_name("gd_comparison", swept_keys([], {"gd": "batch,sgd,minibatch", "+budget": "epochs,time"})) == \
        "sweep gd_comparison: gd budget"
    assert parent_name("mnist_98", []) == "sweep mnist_98"

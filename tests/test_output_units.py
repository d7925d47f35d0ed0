"""The default models fit any dataset: an output layer with ``units: auto`` gets the
dataset's class count (``data=blobs`` alone used to fail: "the last layer gives 10
outputs but data 'blobs' has 3 classes")."""

from __future__ import annotations

import pytest

from harness import ConfigError
from harness.plugins import get_registry
from harness.testing import compose, train
from harness.training.weights import load_model_files, save_model_files

QUICK = ["training.epochs=1", "diagnostics.enabled=false"]


@pytest.mark.parametrize("data, classes", [("blobs", 3), ("moons", 2)])
def test_the_default_model_trains_on_a_dataset_alone(data, classes):
    outcome = train([f"data={data}", *QUICK])
    assert outcome.result.status == "FINISHED"
    assert outcome.model.output_dim == classes


@pytest.mark.parametrize("model", ["deep_mlp", "deep_mlp_bn", "deep_mlp_residual"])
def test_the_deep_models_follow_the_dataset_too(model):
    outcome = train([f"model={model}", "data=blobs", "optimizer.lr=0.001", *QUICK])
    assert outcome.model.output_dim == 3


def test_the_default_model_still_has_ten_outputs_on_mnist():
    cfg = compose([])
    assert cfg.model.layers[-1]["units"] == "auto"
    from harness.model import build_layers

    layers = build_layers(get_registry(), "backprop", [dict(spec) for spec in cfg.model.layers], num_classes=10)
    assert layers[-1].build(128, __import__("numpy").random.default_rng(0), "float32") == 10


def test_an_explicit_count_that_disagrees_is_still_refused():
    with pytest.raises(ConfigError, match="has 3 classes.*auto"):
        train(["data=blobs", "model.layers.4.units=10", *QUICK])


def test_auto_without_a_class_count_is_a_one_line_error():
    from harness.model import build_layers

    with pytest.raises(ConfigError, match=r"model.layers\[0\].units: 'auto' means the dataset's class count"):
        build_layers(get_registry(), "backprop", [{"type": "dense", "units": "auto"}])


def test_a_saved_model_with_auto_units_loads_back(tmp_path):
    outcome = train(["data=blobs", *QUICK])
    settings = outcome.run.config
    spec, weights = save_model_files(tmp_path, outcome.model, engine="backprop", layers=settings.model.layers,
                                     loss=settings.model.loss, dtype=settings.dtype, input_dim=8, num_classes=3)
    model, _ = load_model_files(spec, weights)
    assert model.output_dim == 3

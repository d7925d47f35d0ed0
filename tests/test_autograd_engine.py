"""The autograd engines inside the harness: registered like backprop, agreeing with it,
training through the shared loop, optimizers and tracking."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY
from harness.errors import ConfigError
from harness.model import build_layers, build_loss
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.training.evaluation import evaluate
from harness.training.experiment import run_experiment

REGISTRY = Registry(load_plugins(use_env=False))
AGREEMENT = 1e-10


def relative_error(a, b) -> float:
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / denominator)


def engine(name):
    return REGISTRY.create("engine", name, {}, section="engine")


def names(kind, engine_name):
    return set(REGISTRY.names(kind, engine_name))


# ----------------------------------------------------------------- registry


# The backprop engine's components that the autograd engine mirrors name for name.
MIRRORED = {
    "layer": {"dense", "dropout", "batch_norm", "residual"},
    "activation": {"relu", "leaky_relu", "sigmoid", "tanh"},
    "loss": {"softmax_cross_entropy", "mse"},
}


def test_autograd_registers_the_backprop_names():
    for kind, expected in MIRRORED.items():
        assert expected <= names(kind, "backprop"), kind
        assert expected <= names(kind, "autograd"), kind


def test_scalar_engine_registers_the_teaching_set():
    assert names("layer", "scalar") >= {"dense"}
    assert names("activation", "scalar") >= {"relu", "tanh", "sigmoid"}
    assert names("loss", "scalar") == {"softmax_cross_entropy", "mse"}


def test_dense_has_the_same_options_and_check_options_in_every_engine():
    import inspect

    signatures = {
        e: inspect.signature(REGISTRY.get("layer", "dense", engine=e).factory).parameters.keys()
        for e in ("backprop", "autograd", "scalar")
    }
    assert signatures["autograd"] == signatures["backprop"] == signatures["scalar"]
    assert all(REGISTRY.get("layer", "dense", engine=e).factory.check_options == {"units": 3} for e in signatures)


@pytest.mark.parametrize("engine_name", ["autograd", "scalar"])
def test_bad_layer_options_give_one_line_errors(engine_name):
    with pytest.raises(ConfigError, match=r"^model\.layers\[0\]\.units must be an integer >= 1, got 0$"):
        build_layers(REGISTRY, engine_name, [{"type": "dense", "units": 0}])
    with pytest.raises(ConfigError, match=r"does not accept 'rate'"):
        build_layers(REGISTRY, engine_name, [{"type": "relu", "rate": 0.5}])


# ------------------------------------------------------ engines agree: parts

SHARED = sorted(
    (kind, name)
    for kind in ("layer", "activation", "loss")
    for name in names(kind, "backprop") & names(kind, "autograd")
)
SCALAR_SHARED = sorted(
    (kind, name)
    for kind in ("layer", "activation", "loss")
    for name in names(kind, "backprop") & names(kind, "scalar")
)


def _make(kind, name, engine_name, **options):
    entry = REGISTRY.get(kind, name, engine=engine_name)
    return entry.factory(**{**getattr(entry.factory, "check_options", {}), **options})


def _layer_pair(kind, name, engine_name, input_dim=5):
    """The backprop and the other engine's component, built from one seed."""
    pair = []
    for e in ("backprop", engine_name):
        part = _make(kind, name, e)
        part.build(input_dim, np.random.default_rng(11), np.float64)
        pair.append(part)
    return pair


def _assert_layers_agree(kind, name, engine_name):
    rng = np.random.default_rng(5)
    ours, theirs = _layer_pair(kind, name, engine_name)
    for key in ours.params:
        np.testing.assert_array_equal(ours.params[key], theirs.params[key])  # same seed, same weights
    x = rng.standard_normal((4, 5))
    x += np.sign(x) * 0.1  # away from the ReLU kink
    reseed = lambda layer: layer.reseed(3) if hasattr(layer, "reseed") else None
    reseed(ours), reseed(theirs)
    out_bp = engine("backprop").layer_forward(ours, x.copy())
    reseed(ours), reseed(theirs)
    out_other = engine(engine_name).layer_forward(theirs, x.copy())
    assert relative_error(out_bp, out_other) < AGREEMENT
    upstream = rng.standard_normal(out_bp.shape)
    reseed(ours), reseed(theirs)
    d_bp, grads_bp = engine("backprop").layer_gradients(ours, x.copy(), upstream)
    d_other, grads_other = engine(engine_name).layer_gradients(theirs, x.copy(), upstream)
    assert relative_error(d_bp, d_other) < AGREEMENT
    assert grads_bp.keys() == grads_other.keys()
    for key in grads_bp:
        assert relative_error(grads_bp[key], grads_other[key]) < AGREEMENT, key


def _assert_losses_agree(name, engine_name):
    rng = np.random.default_rng(6)
    outputs, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    bp, other = engine("backprop"), engine(engine_name)
    loss_bp, loss_other = _make("loss", name, "backprop"), _make("loss", name, engine_name)
    assert bp.loss_forward(loss_bp, outputs.copy(), labels) == pytest.approx(other.loss_forward(loss_other, outputs.copy(), labels), rel=AGREEMENT)
    assert relative_error(bp.loss_gradient(loss_bp, outputs.copy(), labels), other.loss_gradient(loss_other, outputs.copy(), labels)) < AGREEMENT


@pytest.mark.parametrize("kind, name", SHARED, ids=[f"{k}:{n}" for k, n in SHARED])
def test_autograd_agrees_with_backprop_on_every_shared_component(kind, name):
    if kind == "loss":
        _assert_losses_agree(name, "autograd")
    else:
        _assert_layers_agree(kind, name, "autograd")


@pytest.mark.parametrize("kind, name", SCALAR_SHARED, ids=[f"{k}:{n}" for k, n in SCALAR_SHARED])
def test_scalar_agrees_with_backprop_on_every_shared_component(kind, name):
    if kind == "loss":
        _assert_losses_agree(name, "scalar")
    else:
        _assert_layers_agree(kind, name, "scalar")


def test_the_agreement_tests_cover_every_mirrored_component():
    assert set(SHARED) >= {(kind, name) for kind, expected in MIRRORED.items() for name in expected}


# ------------------------------------------------------ engines agree: models

MODEL = [
    {"type": "dense", "units": 7, "init": "he"},
    {"type": "relu"},
    {"type": "dropout", "rate": 0.3},
    {"type": "dense", "units": 6, "init": "xavier"},
    {"type": "tanh"},
    {"type": "dense", "units": 5, "init": "normal", "init_scale": 0.5},
    {"type": "leaky_relu", "alpha": 0.1},
    {"type": "dense", "units": 5},
    {"type": "sigmoid"},
    {"type": "dense", "units": 4, "init": "xavier"},
]
SCALAR_MODEL = [
    {"type": "dense", "units": 6, "init": "he"},
    {"type": "relu"},
    {"type": "dense", "units": 5, "init": "xavier"},
    {"type": "tanh"},
    {"type": "dense", "units": 5},
    {"type": "sigmoid"},
    {"type": "dense", "units": 4, "init": "xavier"},
]


def _model(engine_name, specs, loss, seed=0, dtype=np.float64):
    return engine(engine_name).build_model(
        build_layers(REGISTRY, engine_name, specs), build_loss(REGISTRY, engine_name, loss, {}),
        input_dim=3, rng=np.random.default_rng(seed), dtype=dtype,
    )


@pytest.mark.parametrize("engine_name, specs", [("autograd", MODEL), ("scalar", SCALAR_MODEL)])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
def test_whole_models_agree_on_loss_outputs_and_every_parameter_gradient(engine_name, specs, loss):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 4, 8)
    reference, other = _model("backprop", specs, loss), _model(engine_name, specs, loss)
    assert [n for n, _, _ in reference.named_parameters()] == [n for n, _, _ in other.named_parameters()]
    assert other.output_dim == reference.output_dim == 4 and other.layer_names == reference.layer_names
    for (_, a, _), (_, b, _) in zip(reference.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a, b)
    optimizers = [REGISTRY.create("optimizer", "adam", {"lr": 0.01}, section="optimizer") for _ in range(2)]
    for step in range(3):  # and after optimizer steps: the shared optimizer sees the same gradients
        loss_ref, out_ref = reference.train_batch(x, y)
        loss_other, out_other = other.train_batch(x, y)
        assert loss_other == pytest.approx(loss_ref, rel=AGREEMENT)
        assert relative_error(out_ref, out_other) < AGREEMENT
        for (name, _, g_ref), (_, _, g_other) in zip(reference.named_parameters(), other.named_parameters()):
            assert relative_error(g_ref, g_other) < AGREEMENT, f"step {step}: {name}"
        for optimizer, model in zip(optimizers, (reference, other)):
            optimizer.step(model.named_parameters())
    eval_ref, eval_other = reference.evaluate(x, y), other.evaluate(x, y)
    assert eval_other[0] == pytest.approx(eval_ref[0], rel=AGREEMENT)
    assert relative_error(eval_ref[1], eval_other[1]) < AGREEMENT


def test_float32_training_is_step_for_step_the_same_as_backprop():
    specs = [{"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 4, "init": "xavier"}]
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((32, 3)).astype(np.float32), rng.integers(0, 4, 32)
    models = [_model(e, specs, "softmax_cross_entropy", dtype=np.float32) for e in ("backprop", "autograd")]
    optimizers = [REGISTRY.create("optimizer", "momentum", {"lr": 0.1}, section="optimizer") for _ in models]
    for _ in range(5):
        for model, optimizer in zip(models, optimizers):
            model.train_batch(x, y)
            optimizer.step(model.named_parameters())
    for (name, a, _ga), (_, b, gb) in zip(models[0].named_parameters(), models[1].named_parameters()):
        assert a.dtype == b.dtype == gb.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7, err_msg=name)


def test_named_parameters_are_the_same_arrays_and_the_graph_reads_them():
    model = _model("autograd", MODEL, "softmax_cross_entropy")
    first, second = model.named_parameters(), model.named_parameters()
    assert all(a is b and ga is gb for (_, a, ga), (_, b, gb) in zip(first, second))
    x, y = np.ones((2, 3)), np.array([0, 1])
    before = model.evaluate(x, y)[1]
    for _, value, _ in first:
        value *= 0.0
    after = model.evaluate(x, y)[1]
    assert not np.allclose(before, after) and np.allclose(after, after[0, 0])


def test_evaluation_builds_no_graph_and_leaves_gradients_alone():
    model = _model("autograd", MODEL, "mse")
    x, y = np.ones((2, 3)), np.array([0, 1])
    model.train_batch(x, y)
    grads = [g.copy() for _, _, g in model.named_parameters()]
    model.evaluate(x * 2, y)
    assert all(np.array_equal(a, g) for a, (_, _, g) in zip(grads, model.named_parameters()))


def test_autograd_layers_read_params_at_every_call():
    """Like the backprop engine's: a checker that swaps an array in is heard."""
    dense = _make("layer", "dense", "autograd")
    dense.build(3, np.random.default_rng(0), np.float64)
    x, original = np.ones((2, 3)), dense.params["W"]
    dense.params["W"] = original * 2.0
    np.testing.assert_allclose(dense.forward(x), x @ (2.0 * original))
    dense.params["W"] = original.astype(np.complex128) + 1j
    assert np.iscomplexobj(dense.forward(x))
    dense.params["W"] = original
    _, grads = engine("autograd").layer_gradients(dense, x, np.ones((2, dense.units)))
    assert dense.tensors["W"].grad is dense.grads["W"]  # back on the persistent buffer
    np.testing.assert_allclose(grads["W"], x.T @ np.ones((2, dense.units)))


def test_autograd_layers_forward_on_plain_arrays():
    """The core's layer protocol: ``forward(x, train)`` takes and returns arrays."""
    model = _model("autograd", MODEL, "mse")
    x = np.ones((2, 3))
    for layer in model.layers:
        x = layer.forward(x, False)
        assert isinstance(x, np.ndarray)
    np.testing.assert_allclose(x, model.evaluate(np.ones((2, 3)), np.array([0, 1]))[1])


# ------------------------------------------------------------- training runs


def test_autograd_trains_the_tiny_experiment_like_backprop(compose_config, plugins):
    runs = {e: run_experiment(compose_config([*TINY, f"engine={e}", "data.spread=3.0"]), pm=plugins) for e in ("backprop", "autograd")}
    for ours, theirs in zip(runs["autograd"].history, runs["backprop"].history, strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5), key
    assert runs["autograd"].summary["test_accuracy"] > 0.8


def test_scalar_moons_experiment_trains_to_95_percent_and_is_tracked(compose_config, plugins, tmp_path):
    cfg = compose_config(["+experiment=scalar_moons", "tracking=mlflow", "progress=never"])
    assert cfg.engine.name == "scalar" and cfg.data.name == "moons"
    assert [layer["units"] for layer in cfg.model.layers if layer["type"] == "dense"] == [16, 16, 2]
    run = run_experiment(cfg, pm=plugins)
    splits = REGISTRY.create("dataset", "moons", {k: v for k, v in cfg.data.items() if k != "name"}, section="data").load()
    _, train_accuracy, _ = evaluate(run.model, splits.train_x, splits.train_y, 1000)
    print(f"\nscalar_moons: training accuracy {100 * train_accuracy:.1f} %, test {100 * run.summary['test_accuracy']:.1f} %")
    assert train_accuracy >= 0.95
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (recorded,) = client.search_runs([client.get_experiment_by_name("scalar_moons").experiment_id])
    assert recorded.info.status == "FINISHED"
    assert recorded.data.params["engine.name"] == "scalar"
    assert recorded.data.metrics["test_accuracy"] == pytest.approx(run.summary["test_accuracy"])
    history = client.get_metric_history(recorded.info.run_id, "train_accuracy")
    assert len(history) == run.summary["epochs"] and max(m.value for m in history) >= 0.95


@pytest.mark.slow
@pytest.mark.network
def test_autograd_engine_reaches_98_percent_on_mnist(compose_config, plugins):
    run = run_experiment(compose_config(["engine=autograd", "progress=never", "tracking=none"]), pm=plugins)
    print(
        f"\nengine=autograd: test accuracy {100 * run.summary['test_accuracy']:.2f}% after "
        f"{run.summary['epochs']} epochs, {run.summary['train_seconds']:.1f} s of training"
    )
    assert run.summary["test_accuracy"] >= 0.98


def test_scalar_engine_warns_when_a_model_is_too_big_for_it(caplog):
    with caplog.at_level("WARNING", logger="harness.scalar"):
        _model("scalar", SCALAR_MODEL, "mse")
        assert not caplog.records
        engine("scalar").build_model(build_layers(REGISTRY, "scalar", [{"type": "dense", "units": 64}]),
                                     build_loss(REGISTRY, "scalar", "mse", {}), input_dim=784,
                                     rng=np.random.default_rng(0), dtype=np.float32)
    assert len(caplog.records) == 1 and "engine=autograd" in caplog.records[0].getMessage()

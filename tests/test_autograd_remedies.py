"""Batch norm and residual blocks in the ``autograd`` engine: the backprop engine's layers, again.

``tests/test_gradients.py`` checks both against central differences (from the registry)
and ``harness check`` compares them across engines component by component; here whole
models built from one seed in both engines agree step after step — gradients, running
statistics, evaluation outputs — and the contract the core relies on (parameter names,
shared arrays, buffers, ``layers``, one-line option errors) is the backprop engine's.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY
from harness.errors import ConfigError
from harness.model import build_layers, build_loss
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.training.arrays import model_arrays, restore, snapshot
from harness.training.experiment import build_parts, run_experiment
from harness_autograd.layers import Dense, Dropout, ReLU, Sigmoid, Tanh
from harness_autograd.normalization import BatchNorm
from harness_autograd.residual import Residual
from harness_diagnostics.probe import Probe
from harness_gradcheck import CentralDifference
from harness_gradcheck.central import numerical_gradient
from harness_gradcheck.numerics import relative_error

REGISTRY = Registry(load_plugins(use_env=False))
AGREEMENT = 1e-10
TOLERANCE = 1e-7


def engine(name):
    return REGISTRY.create("engine", name, {}, section="engine")


def built(layer, dim=4, dtype=np.float64, seed=0):
    layer.build(dim, np.random.default_rng(seed), dtype)
    return layer


def batch(n=8, dim=4, seed=1, scale=3.0, shift=5.0):
    return np.random.default_rng(seed).standard_normal((n, dim)) * scale + shift


# ------------------------------------------------------ whole models, both engines

MODEL = [
    {"type": "dense", "units": 6, "init": "xavier"},
    {"type": "batch_norm", "momentum": 0.2},
    {"type": "tanh"},
    {"type": "residual", "layers": [{"type": "dense", "units": 6}, {"type": "batch_norm"}, {"type": "relu"}]},
    {"type": "residual", "layers": [
        {"type": "dense", "units": 6, "init": "xavier"}, {"type": "sigmoid"},
        {"type": "residual", "layers": [{"type": "dense", "units": 6, "init": "xavier"}, {"type": "tanh"}, {"type": "batch_norm"}]},
    ]},
    {"type": "dense", "units": 4, "init": "xavier"},
]


# A dense layer's bias right before a batch norm is cancelled by the batch mean: its
# gradient is zero up to round-off (~1e-17), which relative error cannot compare.
CANCELLED = {"0.dense.b", "3.residual.0.dense.b"}


def _model(engine_name, specs=MODEL, seed=0):
    return engine(engine_name).build_model(
        build_layers(REGISTRY, engine_name, specs), build_loss(REGISTRY, engine_name, "softmax_cross_entropy", {}),
        input_dim=3, rng=np.random.default_rng(seed), dtype=np.float64,
    )


def _buffers(model) -> dict[str, np.ndarray]:
    return {key: value for key, value in model_arrays(model).items() if key.startswith("buffer/")}


def test_models_with_batch_norm_and_residual_blocks_agree_step_after_step():
    rng = np.random.default_rng(1)
    reference, other = _model("backprop"), _model("autograd")
    names = [n for n, _, _ in reference.named_parameters()]
    assert names == [n for n, _, _ in other.named_parameters()]
    assert "4.residual.2.residual.2.batch_norm.gamma" in names  # nested blocks are reached
    for (name, a, _), (_, b, _) in zip(reference.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a, b, err_msg=name)  # one seed, the same initial weights
    assert list(_buffers(reference)) == list(_buffers(other)) and len(_buffers(other)) == 6

    optimizers = [REGISTRY.create("optimizer", "momentum", {"lr": 0.1}, section="optimizer") for _ in range(2)]
    for step in range(4):
        x, y = rng.standard_normal((8, 3)) * 2 + 1, rng.integers(0, 4, 8)
        loss_ref, out_ref = reference.train_batch(x, y)
        loss_other, out_other = other.train_batch(x, y)
        assert loss_other == pytest.approx(loss_ref, rel=AGREEMENT)
        assert relative_error(out_ref, out_other) < AGREEMENT
        for (name, _, g_ref), (_, _, g_other) in zip(reference.named_parameters(), other.named_parameters()):
            if name in CANCELLED:
                assert max(np.abs(g_ref).max(), np.abs(g_other).max()) < 1e-12, f"step {step}: {name}"
                continue
            assert np.any(g_ref != 0), f"step {step}: {name} got no gradient"
            assert relative_error(g_ref, g_other) < AGREEMENT, f"step {step}: {name}"
        for optimizer, model in zip(optimizers, (reference, other)):
            optimizer.step(model.named_parameters())

    buffers_ref, buffers_other = _buffers(reference), _buffers(other)
    for key, value in buffers_ref.items():
        assert np.any(value != (0 if key.endswith("mean") else 1)), key  # training moved them
        assert relative_error(value, buffers_other[key]) < AGREEMENT, key

    x, y = rng.standard_normal((5, 3)), rng.integers(0, 4, 5)
    (eval_ref, outputs_ref), (eval_other, outputs_other) = reference.evaluate(x, y), other.evaluate(x, y)
    assert eval_other == pytest.approx(eval_ref, rel=AGREEMENT)
    assert relative_error(outputs_ref, outputs_other) < AGREEMENT
    assert relative_error(other.evaluate(x[:1], y[:1])[1], outputs_other[:1]) < AGREEMENT  # per example
    for key, value in buffers_ref.items():
        np.testing.assert_array_equal(_buffers(reference)[key], value)  # evaluation leaves them alone


def test_running_statistics_round_trip_through_a_snapshot():
    model = _model("autograd")
    rng = np.random.default_rng(2)
    model.train_batch(rng.standard_normal((8, 3)), rng.integers(0, 4, 8))
    saved = snapshot(model)
    x = rng.standard_normal((8, 3))
    expected = model.evaluate(x, np.zeros(8, dtype=int))[1]
    model.train_batch(rng.standard_normal((8, 3)) * 4, rng.integers(0, 4, 8))
    restore(model, saved)
    np.testing.assert_array_equal(model.evaluate(x, np.zeros(8, dtype=int))[1], expected)


def test_a_tiny_run_trains_the_same_in_both_engines(compose_config, plugins):
    layers = (
        "model.layers=[{type: dense, units: 16}, {type: batch_norm}, {type: relu},"
        " {type: residual, layers: [{type: dense, units: 16}, {type: batch_norm}, {type: relu}]},"
        " {type: dense, units: 3}]"
    )
    overrides = [o for o in TINY if not o.startswith("model.layers")] + [layers, "data.spread=3.0", "training.epochs=4"]
    runs = {e: run_experiment(compose_config([*overrides, f"engine={e}"]), pm=plugins) for e in ("backprop", "autograd")}
    for ours, theirs in zip(runs["autograd"].history, runs["backprop"].history, strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5), key
    assert runs["autograd"].summary["test_accuracy"] > 0.8
    norm = runs["autograd"].model.layers[3].layers[1]
    assert norm.kind == "batch_norm" and np.any(norm.buffers["running_mean"] != 0)


@pytest.mark.parametrize("remedy, inner", [("batch_norm", "1.batch_norm.gamma"), ("residual", "2.residual.0.dense.W")])
def test_the_vanishing_preset_measures_the_same_gradient_flow_in_both_engines(compose_config, remedy, inner):
    """The diagnostics probe (deep copies, the engine's check adapters) on the preset's network."""
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 784)), rng.integers(0, 10, 64)
    metrics = {}
    for name in ("backprop", "autograd"):
        cfg = compose_config(["+experiment=vanishing", "tracking=none", "progress=never", f"remedy={remedy}", f"engine={name}"])
        parts = build_parts(cfg, REGISTRY)
        model = parts.engine.build_model(parts.layers, parts.loss, input_dim=784, rng=np.random.default_rng(0), dtype=np.float64)
        metrics[name] = Probe(parts.engine, parts.loss, x, y).measure(model.layers, model.layer_names)
    assert metrics["autograd"].keys() == metrics["backprop"].keys()
    assert metrics["autograd"][f"grad_norm/{inner}"] > 0
    for key, value in metrics["backprop"].items():
        # abs: quantities batch norm makes zero (its outputs' mean, the gradients of the
        # biases it cancels) are round-off of ~1e-16 in both; every real one is > 1e-6.
        assert metrics["autograd"][key] == pytest.approx(value, rel=1e-9, abs=1e-14), key


# ----------------------------------------------------------------- batch norm


def test_batch_norm_has_the_backprop_options_params_and_buffers():
    import inspect

    from harness_backprop import BatchNorm as BackpropBatchNorm

    assert inspect.signature(BatchNorm).parameters.keys() == inspect.signature(BackpropBatchNorm).parameters.keys()
    assert BatchNorm().momentum == 0.1 and BatchNorm().eps == 1e-5
    bn = built(BatchNorm())
    assert list(bn.params) == ["gamma", "beta"] and list(bn.grads) == ["gamma", "beta"]
    np.testing.assert_array_equal(bn.params["gamma"], np.ones(4))
    np.testing.assert_array_equal(bn.params["beta"], np.zeros(4))
    np.testing.assert_array_equal(bn.buffers["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(bn.buffers["running_var"], np.ones(4))


def test_training_mode_normalises_and_updates_running_statistics_in_place():
    bn = built(BatchNorm(momentum=0.1))
    mean, var = bn.buffers["running_mean"], bn.buffers["running_var"]
    x = batch()
    out = bn.forward(x, train=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-5)
    assert bn.buffers["running_mean"] is mean and bn.buffers["running_var"] is var
    np.testing.assert_allclose(mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(var, 0.9 + 0.1 * x.var(axis=0, ddof=1))


def test_evaluation_uses_running_statistics_and_leaves_them_alone():
    bn = built(BatchNorm(momentum=1.0))
    x = batch()
    bn.forward(x, train=True)
    before = {k: b.copy() for k, b in bn.buffers.items()}
    out = bn.forward(x, train=False)
    np.testing.assert_allclose(out, (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + 1e-5), rtol=1e-12)
    for key, value in before.items():
        np.testing.assert_array_equal(bn.buffers[key], value)


def test_a_single_example_training_batch_uses_the_running_statistics():
    bn = built(BatchNorm())
    x = batch(n=1)
    out = bn.forward(x, train=True)
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(bn.buffers["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(bn.buffers["running_var"], np.ones(4))
    d_input, grads = engine("autograd").layer_gradients(bn, x, np.ones_like(out))
    assert np.all(np.isfinite(d_input)) and np.all(np.isfinite(grads["gamma"]))


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_batch_norm_gradients_in_both_modes_match_central_differences(train):
    bn = built(BatchNorm(momentum=0.5))
    bn.forward(batch(seed=7), train=True)  # non-trivial running statistics for evaluation mode
    bn.params["gamma"][...] = [0.5, 1.5, -2.0, 1.0]
    bn.params["beta"][...] = [0.1, -0.2, 0.3, 0.0]
    x = batch(n=6, seed=3)
    upstream = np.random.default_rng(4).standard_normal(x.shape)

    def objective():
        return float(np.sum(upstream * bn.forward(x, train=train)))

    from harness_autograd.tensor import Tensor

    inputs = Tensor(x.copy(), requires_grad=True)
    for tensor in bn.tensors.values():
        tensor.zero_grad()
    bn(inputs, train).backward(upstream)
    analytic = {"input": inputs.grad, **{k: t.grad.copy() for k, t in bn.tensors.items()}}
    numeric = {"input": numerical_gradient(objective, x, 1e-6)}
    for key in ("gamma", "beta"):
        numeric[key] = numerical_gradient(objective, bn.params[key], 1e-6)
    for key in analytic:
        assert relative_error(analytic[key], numeric[key]) < TOLERANCE, key


def test_batch_norm_keeps_float32():
    bn = built(BatchNorm(), dtype=np.float32)
    x = batch().astype(np.float32)
    out = bn.forward(x, train=True)
    assert out.dtype == np.float32 and bn.forward(x, train=False).dtype == np.float32
    d_input, grads = engine("autograd").layer_gradients(bn, x, np.ones_like(out))
    assert d_input.dtype == grads["gamma"].dtype == np.float32
    assert all(b.dtype == np.float32 for b in bn.buffers.values())


def test_batch_norm_options_are_checked_with_the_config_path():
    with pytest.raises(ConfigError) as excinfo:
        build_layers(REGISTRY, "autograd", [{"type": "dense", "units": 4}, {"type": "batch_norm", "momentum": 1.5}])
    assert str(excinfo.value) == "model.layers[1].momentum must be a number in [0, 1], got 1.5"
    with pytest.raises(ConfigError, match=r"^model.layers\[0\].eps must be a number in \(0, inf\], got 0$"):
        build_layers(REGISTRY, "autograd", [{"type": "batch_norm", "eps": 0}])


# -------------------------------------------------------------------- residual


def test_block_exposes_the_inner_arrays_and_leaves_under_prefixed_names():
    dense, norm = Dense(units=4), BatchNorm()
    block = built(Residual(layers=[dense, norm, ReLU()]))
    assert list(block.params) == ["0.dense.W", "0.dense.b", "1.batch_norm.gamma", "1.batch_norm.beta"]
    assert list(block.grads) == list(block.tensors) == list(block.params)
    assert block.params["0.dense.W"] is dense.params["W"] and block.grads["0.dense.W"] is dense.grads["W"]
    assert block.tensors["1.batch_norm.gamma"] is norm.tensors["gamma"]
    assert block.layers[:2] == [dense, norm] and block.layers[2].kind == "relu"
    assert not hasattr(block, "buffers")  # the inner batch norm keeps its own (checkpoints walk ``layers``)


def test_block_computes_x_plus_f_of_x_with_the_same_draws_as_outside_a_block():
    dense = Dense(units=4, init="xavier")
    block = built(Residual(layers=[dense, Tanh()]), seed=5)
    outside = built(Dense(units=4, init="xavier"), seed=5)
    np.testing.assert_array_equal(dense.params["W"], outside.params["W"])
    x = batch()
    np.testing.assert_allclose(block.forward(x), x + np.tanh(x @ dense.params["W"] + dense.params["b"]))


def test_check_options_are_a_fresh_autograd_stack_at_every_access():
    first, second = Residual.check_options, Residual.check_options
    assert [layer.kind for layer in first["layers"]] == ["dense", "tanh"]
    assert all(isinstance(layer, (Dense, Tanh)) for layer in first["layers"])
    assert not any(a is b for a, b in zip(first["layers"], second["layers"]))


STACKS = {
    "dense-relu": lambda: [Dense(units=5), ReLU()],
    # (batch norm right after a dense layer makes the bias gradient exactly zero, which
    # relative error cannot score against central-difference noise)
    "dense-tanh-batchnorm": lambda: [Dense(units=5), Tanh(), BatchNorm()],
    "dense-dropout-sigmoid": lambda: [Dense(units=5), Dropout(rate=0.3), Sigmoid()],
    "nested-residual": lambda: [Residual(layers=[Dense(units=5), Tanh()]), Dense(units=5)],
}


@pytest.mark.parametrize("stack", list(STACKS))
def test_residual_gradients_match_central_differences(stack):
    block = Residual(layers=STACKS[stack]())
    results = CentralDifference(tolerance=TOLERANCE).check_layer(f"residual[{stack}]", block, engine("autograd"))
    assert {r.parameter for r in results} == {"input", *block.params}
    for result in results:
        assert result.passed, result.describe()


def test_a_block_must_give_back_its_input_size():
    with pytest.raises(ConfigError) as excinfo:
        built(Residual(layers=[Dense(units=3)]), dim=4)
    message = str(excinfo.value)
    assert "\n" not in message and "input size 4" in message and "give 3" in message


def test_residual_layers_option_is_checked_with_the_config_path():
    with pytest.raises(ConfigError, match=r"^model.layers\[0\].layers must be a non-empty list of layer specs"):
        build_layers(REGISTRY, "autograd", [{"type": "residual", "layers": []}])


def test_a_block_refuses_another_engines_layers():
    from harness_backprop import Dense as BackpropDense

    with pytest.raises(ConfigError, match=r"^layers must be a non-empty list of layer specs"):
        Residual(layers=[BackpropDense(units=4)])

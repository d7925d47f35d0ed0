"""Batch normalisation and residual blocks: what they compute, their state, their gradients.

``tests/test_gradients.py`` checks both (from the registry) with their ``check_options``;
here the modes and state batch norm has, and residual blocks around several inner stacks.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY
from harness.errors import ConfigError
from harness.model import build_layers, build_loss
from harness.registry import Registry
from harness.training.experiment import run_experiment
from harness_backprop import BackpropEngine, BatchNorm, Dense, Dropout, ReLU, Residual, Sigmoid, Tanh
from harness_gradcheck import CentralDifference
from harness_gradcheck.central import numerical_gradient
from harness_gradcheck.numerics import relative_error

ENGINE = BackpropEngine()
TOLERANCE = 1e-7


def built(layer, dim=4, dtype=np.float64, seed=0):
    layer.build(dim, np.random.default_rng(seed), dtype)
    return layer


def batch(n=8, dim=4, seed=1, scale=3.0, shift=5.0):
    return np.random.default_rng(seed).standard_normal((n, dim)) * scale + shift


# ------------------------------------------------------------------ batch norm


def test_training_mode_normalises_each_unit_over_the_batch():
    bn = built(BatchNorm())
    out = bn.forward(batch(), train=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-5)  # eps = 1e-5 keeps it a hair below 1


def test_gamma_and_beta_scale_and_shift_the_normalised_units():
    bn = built(BatchNorm())
    bn.params["gamma"][...] = [1.0, 2.0, 3.0, 4.0]
    bn.params["beta"][...] = [0.0, -1.0, 1.0, 10.0]
    out = bn.forward(batch(), train=True)
    np.testing.assert_allclose(out.mean(axis=0), [0.0, -1.0, 1.0, 10.0], atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [1.0, 2.0, 3.0, 4.0], rtol=1e-5)


def test_running_statistics_follow_pytorch_momentum_and_unbiased_variance_in_place():
    bn = built(BatchNorm(momentum=0.1))
    mean, var = bn.buffers["running_mean"], bn.buffers["running_var"]
    x = batch()
    bn.forward(x, train=True)
    assert bn.buffers["running_mean"] is mean and bn.buffers["running_var"] is var
    np.testing.assert_allclose(mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(var, 0.9 * 1.0 + 0.1 * x.var(axis=0, ddof=1))
    bn.forward(x, train=True)
    np.testing.assert_allclose(mean, (1 - 0.9**2) * x.mean(axis=0))


def test_evaluation_uses_running_statistics_leaves_them_alone_and_is_per_example():
    bn = built(BatchNorm(momentum=1.0))  # momentum 1: the running statistics are the last batch's
    x = batch()
    bn.forward(x, train=True)
    before = {k: b.copy() for k, b in bn.buffers.items()}
    out = bn.forward(x, train=False)
    expected = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    for key, value in before.items():
        np.testing.assert_array_equal(bn.buffers[key], value)
    np.testing.assert_allclose(bn.forward(x[:1], train=False), out[:1], rtol=1e-12)


def test_a_single_example_training_batch_uses_the_running_statistics():
    bn = built(BatchNorm())
    before = {k: b.copy() for k, b in bn.buffers.items()}
    x = batch(n=1)
    out = bn.forward(x, train=True)
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-5), rtol=1e-12)  # running mean 0, variance 1
    for key, value in before.items():
        np.testing.assert_array_equal(bn.buffers[key], value)
    assert np.all(np.isfinite(bn.backward(np.ones_like(out))))


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

    bn.forward(x, train=train)
    d_input = bn.backward(upstream)
    analytic = {"input": d_input, **{k: g.copy() for k, g in bn.grads.items()}}
    numeric = {"input": numerical_gradient(objective, x, 1e-6)}
    for key in ("gamma", "beta"):
        numeric[key] = numerical_gradient(objective, bn.params[key], 1e-6)
    for key in analytic:
        assert relative_error(analytic[key], numeric[key]) < TOLERANCE, key


def test_batch_norm_keeps_float32():
    bn = built(BatchNorm(), dtype=np.float32)
    x = batch().astype(np.float32)
    out = bn.forward(x, train=True)
    assert out.dtype == np.float32
    assert bn.backward(np.ones_like(out)).dtype == np.float32
    assert all(b.dtype == np.float32 for b in bn.buffers.values())


def test_batch_norm_options_are_checked_with_the_config_path(plugins):
    registry = Registry(plugins)
    with pytest.raises(ConfigError) as excinfo:
        build_layers(registry, "backprop", [{"type": "dense", "units": 4}, {"type": "batch_norm", "momentum": 1.5}])
    assert str(excinfo.value) == "model.layers[1].momentum must be a number in [0, 1], got 1.5"
    with pytest.raises(ConfigError, match=r"^model.layers\[0\].eps must be a number in \(0, inf\], got 0$"):
        build_layers(registry, "backprop", [{"type": "batch_norm", "eps": 0}])


# -------------------------------------------------------------------- residual


def test_block_exposes_the_inner_arrays_under_prefixed_names():
    dense, norm = Dense(units=4), BatchNorm()
    block = built(Residual(layers=[dense, norm, ReLU()]))
    assert list(block.params) == ["0.dense.W", "0.dense.b", "1.batch_norm.gamma", "1.batch_norm.beta"]
    assert block.params["0.dense.W"] is dense.params["W"] and block.grads["0.dense.W"] is dense.grads["W"]
    assert block.params["1.batch_norm.gamma"] is norm.params["gamma"]
    assert block.layers == [dense, norm, block.layers[2]]


def test_block_computes_x_plus_f_of_x():
    dense = Dense(units=4)
    block = built(Residual(layers=[dense, Tanh()]))
    x = batch()
    np.testing.assert_allclose(block.forward(x), x + np.tanh(x @ dense.params["W"] + dense.params["b"]))


def test_inner_layers_are_built_with_the_same_draws_as_outside_a_block():
    inside = built(Residual(layers=[Dense(units=4, init="xavier")]), seed=5)
    outside = built(Dense(units=4, init="xavier"), seed=5)
    np.testing.assert_array_equal(inside.params["0.dense.W"], outside.params["W"])


STACKS = {
    "dense-relu": lambda: [Dense(units=5), ReLU()],
    # (batch norm right after a dense layer would make the bias gradient exactly zero, which
    # relative error cannot score against central-difference noise)
    "dense-tanh-batchnorm": lambda: [Dense(units=5), Tanh(), BatchNorm()],
    "dense-dropout-sigmoid": lambda: [Dense(units=5), Dropout(rate=0.3), Sigmoid()],
    "nested-residual": lambda: [Residual(layers=[Dense(units=5), Tanh()]), Dense(units=5)],
}


@pytest.mark.parametrize("stack", list(STACKS))
def test_residual_gradients_match_central_differences(stack):
    block = Residual(layers=STACKS[stack]())
    results = CentralDifference(tolerance=TOLERANCE).check_layer(f"residual[{stack}]", block, ENGINE)
    assert {r.parameter for r in results} == {"input", *block.params}
    assert any(key.endswith("dense.W") for key in block.params)
    for result in results:
        assert result.passed, result.describe()


def test_a_block_must_give_back_its_input_size():
    block = Residual(layers=[Dense(units=3)])
    with pytest.raises(ConfigError) as excinfo:
        built(block, dim=4)
    message = str(excinfo.value)
    assert "\n" not in message and "input size 4" in message and "give 3" in message


def test_residual_layers_option_is_checked_with_the_config_path(plugins):
    registry = Registry(plugins)
    with pytest.raises(ConfigError, match=r"^model.layers\[0\].layers must be a non-empty list of layer specs"):
        build_layers(registry, "backprop", [{"type": "residual", "layers": []}])


def test_a_model_with_blocks_names_and_steps_the_nested_parameters(plugins):
    registry = Registry(plugins)
    specs = [
        {"type": "dense", "units": 6}, {"type": "relu"},
        {"type": "residual", "layers": [{"type": "dense", "units": 6}, {"type": "batch_norm"}, {"type": "relu"}]},
        {"type": "dense", "units": 3},
    ]
    model = ENGINE.build_model(build_layers(registry, "backprop", specs), build_loss(registry, "backprop", "softmax_cross_entropy", {}),
                               input_dim=4, rng=np.random.default_rng(0), dtype=np.float64)
    names = [name for name, _, _ in model.named_parameters()]
    assert names[2:6] == ["2.residual.0.dense.W", "2.residual.0.dense.b", "2.residual.1.batch_norm.gamma", "2.residual.1.batch_norm.beta"]
    inner = model.layers[2].layers[0]
    before = inner.params["W"].copy()
    model.train_batch(batch(dim=4), np.array([0, 1, 2, 0, 1, 2, 0, 1]))
    for _, value, grad in model.named_parameters():
        value -= 0.1 * grad
    assert not np.array_equal(inner.params["W"], before)


def test_batch_norm_and_residual_train_through_the_harness(compose_config, plugins):
    layers = (
        "model.layers=[{type: dense, units: 16}, {type: batch_norm}, {type: relu},"
        " {type: residual, layers: [{type: dense, units: 16}, {type: batch_norm}, {type: relu}]},"
        " {type: dense, units: 3}]"
    )
    cfg = compose_config([o for o in TINY if not o.startswith("model.layers")] + [layers, "data.spread=3.0", "training.epochs=5"])
    run = run_experiment(cfg, pm=plugins)
    assert run.summary["test_accuracy"] > 0.8
    norm = run.model.layers[1]
    assert np.any(norm.buffers["running_mean"] != 0)  # training updated the running statistics

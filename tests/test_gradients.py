"""Every layer, activation and loss of every engine against float64 central differences.

The components come from the registry, so a component added by any plugin is checked
without touching this file. A deliberately wrong backward pass must fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.plugins import load_plugins
from harness.registry import Registry
from harness_backprop.layers import Dense
from harness_backprop.model import BackpropEngine
from harness_gradcheck import CentralDifference

TOLERANCE = 1e-7


# Only this project's plugins: a third-party plugin in the environment has its own tests.
BUILT_IN = {"backprop", "autograd", "optim", "gradcheck", "datasets"}
REGISTRY = Registry(load_plugins(BUILT_IN, use_env=False))
BACKPROP = BackpropEngine()


def _components(kind):
    return [pytest.param(entry, id=f"{entry.engine}:{entry.name}") for entry in REGISTRY.entries(kind)]


def _make(entry):
    return entry.factory(**getattr(entry.factory, "check_options", {}))


def _engine(entry):
    return REGISTRY.create("engine", entry.engine, {}, section="engine")


@pytest.mark.parametrize("entry", _components("layer") + _components("activation"))
def test_layer_gradients_match_central_differences(entry):
    results = CentralDifference(tolerance=TOLERANCE).check_layer(entry.qualified_name, _make(entry), _engine(entry))
    assert {r.parameter for r in results} >= {"input"}
    for result in results:
        assert result.passed, result.describe()


@pytest.mark.parametrize("entry", _components("loss"))
def test_loss_gradients_match_central_differences(entry):
    results = CentralDifference(tolerance=TOLERANCE).check_loss(entry.qualified_name, _make(entry), _engine(entry))
    for result in results:
        assert result.passed, result.describe()


def test_dense_checks_weights_bias_and_input():
    results = CentralDifference().check_layer("dense", Dense(units=3), BACKPROP)
    assert sorted(r.parameter for r in results) == ["W", "b", "input"]
    assert max(r.error for r in results) < TOLERANCE


class WrongBackwardDense(Dense):
    """Forgets to sum the bias gradient over the batch: only the first row counts."""

    def backward(self, dz):
        dx = super().backward(dz)
        self.grads["b"][...] = dz[0]
        return dx


def test_a_wrong_backward_pass_fails_and_names_the_parameter():
    results = CentralDifference().check_layer("broken_dense", WrongBackwardDense(units=3), BACKPROP)
    failed = [r for r in results if not r.passed]
    assert [r.parameter for r in failed] == ["b"]
    assert "broken_dense" in failed[0].describe() and "FAILED" in failed[0].describe()
    assert failed[0].error > 0.1


def test_relative_error_is_zero_for_equal_and_one_for_opposite():
    from harness_gradcheck import relative_error

    a = np.array([1.0, -2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    from harness_backprop.losses import SoftmaxCrossEntropy

    loss = SoftmaxCrossEntropy()
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]])
    value = loss.forward(z, np.array([0, 2]))
    assert np.isfinite(value) and value == pytest.approx(1000.0 / 2)
    grad = loss.backward()
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-12)


def test_dz_is_softmax_minus_one_hot_over_batch():
    from harness_backprop.losses import SoftmaxCrossEntropy

    z = np.random.default_rng(1).standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    loss = SoftmaxCrossEntropy()
    loss.forward(z, y)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss.backward(), (probs - np.eye(4)[y]) / 5, rtol=1e-12)

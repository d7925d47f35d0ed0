"""The components against their defining formulas, beyond what gradient checks can see."""

import math

import numpy as np
import pytest

from harness import ConfigError
from harness_example import GELU, GaussianDropout, Lion, Maxout


def test_gelu_matches_x_times_normal_cdf():
    x = np.linspace(-4, 4, 81)
    exact = np.array([0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in x])
    np.testing.assert_allclose(GELU().forward(x), exact, atol=1e-3)  # the tanh form's known accuracy


def test_gaussian_dropout_is_identity_in_evaluation_and_unbiased_in_training():
    layer = GaussianDropout(rate=0.2)
    layer.build(4, np.random.default_rng(0), np.float64)
    x = np.ones((20000, 4))
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    noisy = layer.forward(x, train=True)
    assert abs(noisy.mean() - 1.0) < 0.01
    assert abs(noisy.var() - 0.2 / 0.8) < 0.01


def test_gaussian_dropout_replays_its_noise_after_reseed():
    layer = GaussianDropout(rate=0.5)
    layer.build(3, np.random.default_rng(0), np.float64)
    x = np.ones((2, 3))
    layer.reseed(7)
    first = layer.forward(x)
    layer.reseed(7)
    np.testing.assert_array_equal(layer.forward(x), first)


def test_maxout_takes_the_largest_piece():
    layer = Maxout(units=1, pieces=3)
    layer.build(1, np.random.default_rng(0), np.float64)
    layer.params["W"][...] = [[1.0, -1.0, 0.5]]
    layer.params["b"][...] = [0.0, 0.0, 1.0]
    out = layer.forward(np.array([[2.0], [-2.0], [0.0]]))
    np.testing.assert_allclose(out[:, 0], [2.0, 2.0, 1.0])


def test_lion_moves_every_coordinate_by_lr_in_the_direction_of_the_gradient_sign():
    w, g = np.array([1.0, -1.0, 0.5]), np.array([3.0, -0.001, 0.0])
    Lion(lr=0.1).step([("w", w, g)])
    np.testing.assert_allclose(w, [0.9, -0.9, 0.5])


def test_options_are_validated_with_one_line_errors():
    with pytest.raises(ConfigError, match=r"^rate must be a number in \[0, 1\), got 1.5$"):
        GaussianDropout(rate=1.5)
    with pytest.raises(ConfigError, match=r"^pieces must be an integer >= 2, got 1$"):
        Maxout(units=3, pieces=1)
    with pytest.raises(ConfigError, match=r"^beta2 must be"):
        Lion(beta2=1.0)

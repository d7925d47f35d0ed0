"""Optimizers, schedules and clipping, checked against their textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness_optim import SGD, Adam, Constant, Cosine, Momentum, Nesterov, StepDecay, clip_by_global_norm


def quadratic_descent(optimizer, steps=200):
    """Minimise ½ xᵀAx for an ill-conditioned diagonal A; return the final loss."""
    a = np.array([1.0, 10.0])
    x = np.array([3.0, -2.0])
    grad = np.zeros(2)
    for _ in range(steps):
        grad[...] = a * x
        optimizer.step([("x", x, grad)])
    return 0.5 * float(np.sum(a * x * x))


@pytest.mark.parametrize(
    "optimizer",
    [SGD(lr=0.05), Momentum(lr=0.02), Nesterov(lr=0.02), Adam(lr=0.1)],
    ids=["sgd", "momentum", "nesterov", "adam"],
)
def test_every_optimizer_minimises_a_convex_quadratic(optimizer):
    start = 0.5 * (1.0 * 9 + 10.0 * 4)
    assert quadratic_descent(optimizer) < 1e-3 * start


def test_momentum_matches_its_formula():
    opt = Momentum(lr=0.1, momentum=0.9)
    w, g = np.array([1.0]), np.array([2.0])
    opt.step([("w", w, g)])  # v = 2, w = 1 - 0.2
    opt.step([("w", w, g)])  # v = 0.9*2 + 2 = 3.8, w = 0.8 - 0.38
    assert w[0] == pytest.approx(0.42)


def test_nesterov_looks_ahead():
    opt = Nesterov(lr=0.1, momentum=0.9)
    w, g = np.array([1.0]), np.array([2.0])
    opt.step([("w", w, g)])  # v = 2; step = g + 0.9 v = 3.8
    assert w[0] == pytest.approx(1.0 - 0.38)


def test_adam_first_step_is_lr_times_sign():
    opt = Adam(lr=0.01)
    w, g = np.array([1.0, 1.0]), np.array([5.0, -0.001])
    opt.step([("w", w, g)])
    np.testing.assert_allclose(w, [0.99, 1.01], rtol=1e-5)


def test_weight_decay_adds_l2_gradient():
    opt = SGD(lr=0.1, weight_decay=0.5)
    w = np.array([2.0])
    opt.step([("w", w, np.array([0.0]))])
    assert w[0] == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)


def test_clip_by_global_norm_scales_all_gradients_together():
    g1, g2 = np.array([3.0]), np.array([4.0])
    before = clip_by_global_norm([g1, g2], 1.0)
    assert before == pytest.approx(5.0)
    assert math.hypot(g1[0], g2[0]) == pytest.approx(1.0)
    assert g1[0] / g2[0] == pytest.approx(0.75)
    small = np.array([0.1])
    clip_by_global_norm([small], 1.0)
    assert small[0] == 0.1


def test_clip_by_global_norm_shortens_float32_gradients_whose_squares_overflow():
    # ||g||² = 4e40 is beyond float32's range; summed in float32 the norm is inf and the
    # "clipped" gradient would be all zeros: a skipped step instead of a shortened one.
    g = np.full(4, 1e20, dtype=np.float32)
    before = clip_by_global_norm([g], 1.0)
    assert before == pytest.approx(2e20, rel=1e-6)
    assert g.dtype == np.float32 and np.allclose(g, 0.5)


def test_optimizer_clip_norm_bounds_the_step():
    opt = SGD(lr=1.0, clip_norm=0.5)
    w = np.zeros(2)
    opt.step([("w", w, np.array([30.0, 40.0]))])
    assert np.linalg.norm(w) == pytest.approx(0.5)


def test_state_dict_round_trip_continues_identically():
    def run(split):
        opt = Adam(lr=0.05)
        x, grad = np.array([3.0, -2.0]), np.zeros(2)
        for i in range(10):
            if i == split:
                state = opt.state_dict()
                opt = Adam(lr=0.05)
                opt.load_state_dict(state)
            grad[...] = x * np.array([1.0, 10.0])
            opt.step([("x", x, grad)])
        return x

    np.testing.assert_array_equal(run(split=-1), run(split=4))


def test_schedules():
    assert Constant().lr(0.1, 7, 10) == 0.1
    step = StepDecay(every=5, factor=10)
    assert [step.lr(1.0, e, 15) for e in (0, 4, 5, 10)] == [1.0, 1.0, 0.1, pytest.approx(0.01)]
    cosine = Cosine(min_lr=0.0)
    assert cosine.lr(1.0, 0, 10) == 1.0
    assert cosine.lr(1.0, 5, 10) == pytest.approx(0.5)
    lrs = [cosine.lr(1.0, e, 10) for e in range(10)]
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] > 0

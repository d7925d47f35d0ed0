"""``random_search``: the gradient-free foil, and why it fails in many dimensions.

Each step evaluates the loss twice through the closure, keeps a random move only if the
loss fell, and otherwise restores the weights bit for bit; its draws depend on the step
count alone, so a resumed optimizer continues exactly. On a quadratic bowl it descends
in 4 dimensions but, at the same number of loss evaluations, gets nowhere in 4000 while
gradient descent does: the chapter's point, measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.plugins import load_plugins
from harness.registry import Registry
from harness_optim.optimizers import SGD
from harness_optim.random_search import RandomSearch


def bowl(dim: int, seed: int = 0):
    """``½ Σ λ w²`` with λ in [0.5, 2]: named params, a loss closure, a gradient filler."""
    rng = np.random.default_rng(seed)
    curvature = rng.uniform(0.5, 2.0, dim)
    w = rng.standard_normal(dim)
    g = np.zeros(dim)
    named = [("w", w, g)]

    def loss() -> float:
        return float(0.5 * np.sum(curvature * w * w))

    def fill_gradient() -> None:
        np.multiply(curvature, w, out=g)

    return named, loss, fill_gradient


def test_each_step_evaluates_the_loss_twice_and_keeps_only_improvements():
    named, loss, _ = bowl(50)
    calls = []

    def counted() -> float:
        calls.append(1)
        return loss()

    opt = RandomSearch(lr=0.05, seed=3)
    history = [loss()]
    for _ in range(40):
        opt.step(named, counted)
        history.append(loss())
    assert len(calls) == 2 * 40 == RandomSearch.evaluations_per_step * opt.steps
    assert all(b <= a for a, b in zip(history, history[1:]))  # never worse: a bad move is undone
    assert 0 < opt.accepted < 40 and history[-1] < history[0]


def test_a_rejected_move_restores_the_weights_bit_for_bit():
    w = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    original = w.copy()
    opt = RandomSearch(lr=1e-3)
    values = iter([1.0, 2.0])  # the move makes the loss worse
    opt.step([("w", w, np.zeros_like(w))], lambda: next(values))
    assert w.tobytes() == original.tobytes() and opt.accepted == 0 and opt.steps == 1


def test_a_non_finite_loss_after_the_move_is_rejected():
    w = np.ones(3)
    values = iter([1.0, float("nan")])
    RandomSearch(lr=10.0).step([("w", w, np.zeros(3))], lambda: next(values))
    np.testing.assert_array_equal(w, np.ones(3))


def test_resuming_from_the_state_dict_draws_what_the_uninterrupted_run_draws():
    named_a, loss_a, _ = bowl(20)
    named_b, loss_b, _ = bowl(20)
    a = RandomSearch(lr=0.1, seed=5)
    for _ in range(10):
        a.step(named_a, loss_a)
    state = a.state_dict()
    np.copyto(named_b[0][1], named_a[0][1])
    b = RandomSearch(lr=0.1, seed=5)
    b.load_state_dict(state)
    for _ in range(10):
        a.step(named_a, loss_a)
        b.step(named_b, loss_b)
    np.testing.assert_array_equal(named_a[0][1], named_b[0][1])
    assert state == {"steps": 10, "slots": {}}


def test_registered_with_its_options_validated():
    registry = Registry(load_plugins({"optim"}, use_env=False))
    opt = registry.create("optimizer", "random_search", {"lr": 0.02, "seed": 1}, section="optimizer")
    assert isinstance(opt, RandomSearch) and opt.uses_closure is True
    with pytest.raises(ConfigError, match="lr"):
        registry.create("optimizer", "random_search", {"lr": -1}, section="optimizer")


@pytest.mark.parametrize("dim, expected", [(4, "both descend"), (4000, "random search stalls")])
def test_random_search_falls_behind_gradient_descent_as_dimensions_grow(dim, expected):
    """The same 400 loss evaluations: 200 random-search steps, 400 gradient steps."""
    evaluations = 400
    best_random = np.inf
    for sigma in (0.3, 0.1, 0.03, 0.01, 0.003):  # its best step size, to be fair to it
        named, loss, _ = bowl(dim)
        start = loss()
        opt = RandomSearch(lr=sigma)
        for _ in range(evaluations // RandomSearch.evaluations_per_step):
            opt.step(named, loss)
        best_random = min(best_random, loss() / start)
    named, loss, fill = bowl(dim)
    start = loss()
    sgd = SGD(lr=0.4)
    for _ in range(evaluations):
        fill()
        sgd.step(named)
    gradient = loss() / start
    assert gradient < 1e-6  # gradient descent: near the bottom in either dimension
    if expected == "both descend":
        assert best_random < 0.05
    else:
        assert best_random > 0.5  # 4000 dimensions: not even halfway down

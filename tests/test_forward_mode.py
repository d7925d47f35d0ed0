"""Forward mode: ``Dual`` numbers, Tensor JVP rules, and the ``jvp_vjp`` checker.

Forward and reverse mode must give the same derivatives: a ``Dual`` tangent equals the
``Value`` gradient of the same expression, a Tensor JVP equals central differences
along the same direction, and the dot-product test ``⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩`` holds for
every op. The checker must fail when either rule is wrong and skip (saying why) a
component the engine cannot push a tangent through.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.conformance import run_suite
from harness.plugins import load_plugins
from harness.registry import Registry
from harness_autograd import Dual, Tensor, Value, jvp, tangent, tangents, vjp
from harness_autograd import dual as dual_module
from harness_autograd.tensor import BACKWARD

# ---------------------------------------------------------------------- Dual

# Every operation Value offers, with numbers on either side, as f(x, y).
SCALAR_FUNCTIONS = {
    "add": lambda x, y: x + y,
    "add_k": lambda x, y: x + 2.5,
    "k_add": lambda x, y: 2.5 + y,
    "sub": lambda x, y: x - y,
    "sub_k": lambda x, y: x - 1.5,
    "k_sub": lambda x, y: 1.5 - y,
    "mul": lambda x, y: x * y,
    "mul_k": lambda x, y: x * 3.0,
    "k_mul": lambda x, y: 3.0 * y,
    "div": lambda x, y: x / y,
    "div_k": lambda x, y: x / 4.0,
    "k_div": lambda x, y: 4.0 / y,
    "pow_k": lambda x, y: x ** 3,
    "pow": lambda x, y: x ** y,
    "k_pow": lambda x, y: 2.0 ** y,
    "neg": lambda x, y: -x,
    "exp": lambda x, y: x.exp(),
    "log": lambda x, y: y.log(),
    "relu": lambda x, y: (x - y).relu() + (y - x).relu() * 0.5,
    "tanh": lambda x, y: (x * y).tanh(),
    "sigmoid": lambda x, y: (x - y).sigmoid(),
    "composite": lambda x, y: ((x * y + 1).tanh() + x ** 2) / (y.exp() + 1) - (x * x).log(),
}


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_dual_tangents_equal_value_gradients(name):
    f = SCALAR_FUNCTIONS[name]
    x0, y0 = 1.3, 0.7
    x, y = Value(x0), Value(y0)
    out = f(x, y)
    out.backward()
    along_x = f(Dual(x0, 1.0), Dual(y0, 0.0))
    along_y = f(Dual(x0, 0.0), Dual(y0, 1.0))
    assert along_x.data == pytest.approx(out.data, rel=1e-15)
    assert along_x.tangent == pytest.approx(x.grad, rel=1e-12, abs=1e-15)
    assert along_y.tangent == pytest.approx(y.grad, rel=1e-12, abs=1e-15)


def test_dual_matches_central_differences_on_a_long_chain():
    def f(x):
        for i in range(200):
            x = (x * 0.9 + 0.1 * i / 200).tanh() + x.sigmoid() * 0.1
        return x

    value, slope = dual_module.derivative(f, 0.3)
    h = 1e-6
    numeric = (f(Dual(0.3 + h)).data - f(Dual(0.3 - h)).data) / (2 * h)
    assert slope == pytest.approx(numeric, rel=1e-7)
    assert value == f(Dual(0.3)).data


def test_dual_jvp_of_a_vector_function():
    values, directional = dual_module.jvp(lambda v: [v[0] * v[1], v[0].exp()], [2.0, 3.0], [1.0, -1.0])
    assert values == [6.0, math.exp(2.0)]
    assert directional == pytest.approx([3.0 - 2.0, math.exp(2.0)])
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        dual_module.jvp(lambda v: v[0], [1.0, 2.0], [1.0])


def test_exp_overflow_gives_infinity_like_value():
    assert Dual(1000.0, 1.0).exp().data == math.inf == Value(1000.0).exp().data


# --------------------------------------------------------------- Tensor JVP


def test_every_backward_rule_has_a_forward_rule():
    assert set(tangents.JVP) == set(BACKWARD)


def _tensor_cases():
    """``name -> (f, input shapes)``: every Tensor operation, float64, inputs positive where needed."""
    W = np.random.default_rng(7).standard_normal((3, 4))
    return {
        "add": (lambda a, b: a + b, [(2, 3), (3,)]),
        "sub": (lambda a, b: a - b, [(2, 3), (2, 1)]),
        "mul": (lambda a, b: a * b, [(2, 3), (2, 3)]),
        "div": (lambda a, b: a / (b * b + 1.0), [(2, 3), (3,)]),
        "pow": (lambda a, b: (a * a + 1.0) ** b, [(2, 3), (2, 3)]),
        "matmul": (lambda a, b: a @ b, [(2, 3), (3, 4)]),
        "matmul_vector": (lambda a, b: a @ b, [(3,), (3, 4)]),
        "linear": (lambda x, w, b: x.linear(w, b), [(2, 3), (3, 4), (4,)]),
        "neg": (lambda a: -a, [(2, 3)]),
        "sum": (lambda a: a.sum(axis=1), [(2, 3)]),
        "mean": (lambda a: a.mean(axis=0, keepdims=True), [(2, 3)]),
        "max": (lambda a: a.max(axis=1), [(2, 3)]),
        "reshape": (lambda a: a.reshape(3, 2), [(2, 3)]),
        "transpose": (lambda a: a.transpose(), [(2, 3)]),
        "getitem": (lambda a: a[np.array([0, 1, 1]), 1:], [(2, 3)]),
        "exp": (lambda a: a.exp(), [(2, 3)]),
        "log": (lambda a: (a * a + 0.5).log(), [(2, 3)]),
        "relu": (lambda a: a.relu(), [(2, 3)]),
        "leaky_relu": (lambda a: a.leaky_relu(0.1), [(2, 3)]),
        "tanh": (lambda a: a.tanh(), [(2, 3)]),
        "sigmoid": (lambda a: a.sigmoid(), [(2, 3)]),
        "log_softmax": (lambda a: a.log_softmax(axis=1), [(2, 3)]),
        "cross_entropy": (lambda a: a.cross_entropy(np.array([0, 2]), label_smoothing=0.1), [(2, 3)]),
        "mlp": (lambda x: ((x @ Tensor(W)).tanh() * 2.0).log_softmax(), [(2, 3)]),
    }


@pytest.mark.parametrize("name", sorted(_tensor_cases()))
def test_tensor_jvp_agrees_with_central_differences_and_with_backward(name):
    f, shapes = _tensor_cases()[name]
    rng = np.random.default_rng(0)
    primals = [np.sign(z) * (0.2 + np.abs(z)) for z in (rng.standard_normal(s) for s in shapes)]  # no kinks, no ties
    directions = [rng.standard_normal(s) for s in shapes]
    value, jv = jvp(f, primals, directions)

    h = 1e-6
    plus = f(*[Tensor(p + h * d) for p, d in zip(primals, directions)]).data
    minus = f(*[Tensor(p - h * d) for p, d in zip(primals, directions)]).data
    np.testing.assert_allclose(jv, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-8)

    u = rng.standard_normal(np.shape(value))
    _, cotangents = vjp(f, primals, u)
    forward = float(np.sum(jv * u))
    backward = sum(float(np.sum(d * g)) for d, g in zip(directions, cotangents))
    assert forward == pytest.approx(backward, rel=1e-12, abs=1e-14)


def test_tangent_treats_unseeded_leaves_as_constants():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    out = a * b
    np.testing.assert_array_equal(tangent(out, {a: np.array([1.0, 0.0])}), [3.0, 0.0])
    np.testing.assert_array_equal(tangent(out, {}), [0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        tangent(out, {a: np.ones(3)})


def test_an_op_without_a_forward_rule_is_named(monkeypatch):
    monkeypatch.delitem(tangents.JVP, "tanh")
    with pytest.raises(tangents.NoTangentRule, match="'tanh'"):
        jvp(lambda a: a.tanh(), [np.ones(2)], [np.ones(2)])


# -------------------------------------------------------------- the checker


def _jvp_vjp_report():
    return run_suite(Registry(load_plugins(use_env=False)), checker="jvp_vjp")


def test_jvp_vjp_checks_every_autograd_and_scalar_component():
    report = _jvp_vjp_report()
    assert report.passed, report.failures
    labels = {case.case.subject.label.split("(")[0] for case in report.cases}  # check variants: one base name
    registry = Registry(load_plugins(use_env=False))
    expected = {f"{e.engine}:{e.name}" for kind in ("layer", "activation", "loss")
                for e in registry.entries(kind) if e.engine in ("autograd", "scalar")}
    assert labels == expected
    assert "autograd:softmax_cross_entropy(label_smoothing=0.1)" in {case.case.subject.label for case in report.cases}
    assert not any(label.startswith("backprop:") for label in labels)  # no forward mode there
    errors = [r.error for case in report.cases for r in case.results]
    assert errors and max(errors) < 1e-10
    dense = next(c for c in report.cases if c.case.subject.label == "autograd:dense")
    assert {r.parameter for r in dense.results} == {"input", "W", "b"}


def test_a_wrong_tensor_forward_rule_fails(monkeypatch):
    monkeypatch.setitem(tangents.JVP, "tanh", lambda node, t: t[0] * (1 - node.data))  # not 1 - tanh²
    report = _jvp_vjp_report()
    failed = {r.component for r in report.failures}
    assert "autograd:tanh" in failed and "scalar:tanh" not in failed


def test_a_wrong_dual_rule_fails(monkeypatch):
    def wrong_sigmoid(self):
        out = 0.5 + 0.5 * math.tanh(0.5 * self.data)
        return Dual(out, out * self.tangent)  # missing (1 - out)

    monkeypatch.setattr(Dual, "sigmoid", wrong_sigmoid)
    report = _jvp_vjp_report()
    assert {r.component for r in report.failures} == {"scalar:sigmoid"}
    (failure,) = report.failures
    assert failure.parameter == "input" and failure.error > 1e-3


def test_a_component_without_forward_mode_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.delitem(tangents.JVP, "leaky_relu")
    report = _jvp_vjp_report()
    case = next(c for c in report.cases if c.case.subject.label == "autograd:leaky_relu")
    assert case.status == "skipped"
    assert "'leaky_relu' has no forward-mode" in case.results[0].detail

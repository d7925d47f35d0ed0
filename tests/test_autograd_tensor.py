"""The NumPy ``Tensor`` engine: every op's gradient against float64 central differences,
broadcasting, reductions, indexing, ``no_grad``, dtypes, accumulation, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from harness_autograd import Tensor, is_grad_enabled, no_grad

EPS = 1e-6
TOLERANCE = 1e-7


def relative_error(a, b) -> float:
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else float(np.linalg.norm(a - b) / denominator)


def numerical_gradient(f, array: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + EPS
        upper = f()
        flat[i] = original - EPS
        lower = f()
        flat[i] = original
        flat_grad[i] = (upper - lower) / (2 * EPS)
    return grad


def check(fn, *arrays, reference=None):
    """Gradients of ``Σ G ⊙ fn(*tensors)`` (random ``G``) against central differences,
    for every operand; the forward value against ``reference`` (NumPy) if given."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    if reference is not None:
        np.testing.assert_allclose(out.data, reference(*arrays), rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(7).standard_normal(out.shape)
    out.backward(upstream)

    def objective():
        with no_grad():
            return float(np.sum(upstream * fn(*[Tensor(a) for a in arrays]).data))

    for i, (array, tensor) in enumerate(zip(arrays, tensors)):
        assert tensor.grad is not None and tensor.grad.shape == array.shape, f"operand {i}"
        error = relative_error(tensor.grad, numerical_gradient(objective, array))
        assert error < TOLERANCE, f"operand {i}: relative error {error:.2e}"


RNG = np.random.default_rng(0)


def rand(*shape, low=None):
    """Standard normal; with ``low``, magnitudes ≥ ``low`` (away from kinks and poles)."""
    z = RNG.standard_normal(shape)
    return z if low is None else np.sign(z) * (low + np.abs(z))


def positive(*shape):
    return 0.5 + RNG.random(shape)


# ------------------------------------------------------------------ arithmetic

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((5, 4), (4,)),
    ((), (3, 4)),
    ((3, 4), ()),
    ((2, 1, 4), (3, 1)),
]


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=lambda s: f"{s[0]}-{s[1]}")
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_binary_ops_broadcast_and_reduce_gradients_to_each_shape(op, shapes):
    a_shape, b_shape = shapes
    fns = {
        "add": (lambda a, b: a + b, np.add),
        "sub": (lambda a, b: a - b, np.subtract),
        "mul": (lambda a, b: a * b, np.multiply),
        "div": (lambda a, b: a / b, np.divide),
        "pow": (lambda a, b: a ** b, np.power),
    }
    fn, reference = fns[op]
    a = positive(*a_shape) if op == "pow" else rand(*a_shape)
    b = rand(*b_shape, low=0.5) if op in ("div", "pow") else rand(*b_shape)
    check(fn, a, b, reference=reference)


NUMBER_CASES = [
    ("number + t", lambda t: 2.5 + t, lambda x: 2.5 + x),
    ("t - number", lambda t: t - 1.5, lambda x: x - 1.5),
    ("number - t", lambda t: 1.5 - t, lambda x: 1.5 - x),
    ("number * t", lambda t: 3.0 * t, lambda x: 3.0 * x),
    ("number / t", lambda t: 2.0 / t, lambda x: 2.0 / x),
    ("t / number", lambda t: t / 4.0, lambda x: x / 4.0),
    ("t ** 3", lambda t: t ** 3, lambda x: x ** 3),
    ("t ** -2", lambda t: t ** -2, lambda x: x ** -2.0),
    ("2 ** t", lambda t: 2.0 ** t, lambda x: 2.0 ** x),
    ("-t", lambda t: -t, lambda x: -x),
    ("ndarray * t", lambda t: np.full((3, 4), 1.5) * t, lambda x: 1.5 * x),
    ("t + ndarray row", lambda t: t + np.arange(4.0), lambda x: x + np.arange(4.0)),
]


@pytest.mark.parametrize("name, fn, reference", NUMBER_CASES, ids=[case[0] for case in NUMBER_CASES])
def test_numbers_and_arrays_on_either_side(name, fn, reference):
    check(fn, rand(3, 4, low=0.3), reference=reference)


def test_a_tensor_used_twice_gets_both_contributions():
    check(lambda a: a * a + a / (a * a + 1.0), rand(3, 2))
    check(lambda a, b: (a + b) * (a - b) * a, rand(2, 3), rand(3))


# ------------------------------------------------------------------- matmul


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((3, 4), (2, 4, 5)),
])
def test_matmul(a_shape, b_shape):
    check(lambda a, b: a @ b, rand(*a_shape), rand(*b_shape), reference=np.matmul)


def test_linear_is_matmul_plus_bias_in_one_node():
    check(lambda x, w, b: x.linear(w, b), rand(5, 3), rand(3, 4), rand(4), reference=lambda x, w, b: x @ w + b)
    with pytest.raises(ValueError, match="linear needs"):
        Tensor(rand(5, 3)).linear(Tensor(rand(3, 4)), Tensor(rand(5)))


# --------------------------------------------------------------- reductions

AXES = [None, 0, 1, -1, (0, 2)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reductions_over_axes_with_keepdims(op, axis, keepdims):
    x = rand(2, 3, 4)
    check(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), x,
          reference=lambda a: getattr(np, op)(a, axis=axis, keepdims=keepdims))


def test_max_shares_the_gradient_between_ties():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_reductions_of_a_scalar_tensor():
    check(lambda t: (t * 3.0).sum(), rand())
    check(lambda t: t.max(), rand())


# ------------------------------------------------------------ shape, indexing


SHAPE_CASES = [
    ("reshape", lambda t: t.reshape(4, 6)),
    ("reshape -1", lambda t: t.reshape((-1,))),
    ("transpose", lambda t: t.transpose()),
    ("transpose axes", lambda t: t.transpose(1, 2, 0)),
    (".T then reshape", lambda t: t.T.reshape(6, 4) * 2.0),
]


@pytest.mark.parametrize("name, fn", SHAPE_CASES, ids=[case[0] for case in SHAPE_CASES])
def test_reshape_and_transpose(name, fn):
    check(fn, rand(2, 3, 4))


INDEX_CASES = [
    ("int", 1),
    ("slice", slice(1, None)),
    ("negative step", (slice(None, None, -1), 2)),
    ("None and Ellipsis", (None, Ellipsis, 1)),
    ("fancy with repeats", np.array([0, 2, 0, 0])),
    ("pairs of rows and columns", (np.array([0, 1, 2, 2]), np.array([3, 0, 3, 3]))),
    ("boolean mask", np.array([True, False, True])),
]


@pytest.mark.parametrize("name, index", INDEX_CASES, ids=[case[0] for case in INDEX_CASES])
def test_indexing(name, index):
    x = rand(3, 4)
    check(lambda t: t[index] * 1.5, x, reference=lambda a: a[index] * 1.5)


def test_indexing_with_a_tensor_index():
    index = Tensor(np.array([2, 2, 1]))
    check(lambda t: t[index], rand(3, 2))


# ------------------------------------------------------------ elementwise


ELEMENTWISE_CASES = [
    ("exp", lambda t: t.exp(), rand(3, 4), np.exp),
    ("log", lambda t: t.log(), positive(3, 4), np.log),
    ("relu", lambda t: t.relu(), rand(3, 4, low=0.1), lambda a: np.maximum(a, 0)),
    ("leaky_relu", lambda t: t.leaky_relu(0.2), rand(3, 4, low=0.1), lambda a: np.where(a > 0, a, 0.2 * a)),
    ("tanh", lambda t: t.tanh(), rand(3, 4), np.tanh),
    ("sigmoid", lambda t: t.sigmoid(), rand(3, 4), lambda a: 1 / (1 + np.exp(-a))),
    ("log_softmax", lambda t: t.log_softmax(), rand(3, 4), lambda a: a - np.log(np.exp(a).sum(axis=-1, keepdims=True))),
    ("log_softmax axis 0", lambda t: t.log_softmax(axis=0), rand(3, 4), lambda a: a - np.log(np.exp(a).sum(axis=0, keepdims=True))),
]


@pytest.mark.parametrize("name, fn, data, reference", ELEMENTWISE_CASES, ids=[case[0] for case in ELEMENTWISE_CASES])
def test_elementwise_and_log_softmax(name, fn, data, reference):
    check(fn, data, reference=reference)


def test_cross_entropy_is_mean_negative_log_softmax_of_the_label():
    labels = np.array([0, 3, 1, 1, 2])
    check(lambda t: t.cross_entropy(labels), rand(5, 4),
          reference=lambda z: -np.mean((z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(5), labels]))
    check(lambda t: t.cross_entropy(labels) * 3.0, rand(5, 4))


def test_cross_entropy_equals_log_softmax_picked_and_is_stable():
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]])
    labels = np.array([0, 2])
    fused = Tensor(z).cross_entropy(labels)
    composed = -Tensor(z).log_softmax()[np.arange(2), labels].mean()
    assert fused.item() == pytest.approx(500.0) and composed.item() == pytest.approx(500.0)
    logits = Tensor(z, requires_grad=True)
    logits.cross_entropy(labels).backward()
    assert np.all(np.isfinite(logits.grad))
    with pytest.raises(ValueError, match="cross_entropy needs"):
        Tensor(z).cross_entropy(np.array([0]))


def test_a_composite_expression_through_many_ops():
    def mlp(x, w1, b1, w2):
        h = (x @ w1 + b1).tanh()
        return (h @ w2).log_softmax().sum(axis=0) * (h.max(axis=1, keepdims=True).sigmoid() + 1.0).mean()

    check(mlp, rand(4, 3), rand(3, 5), rand(5), rand(5, 2))


# --------------------------------------------------------------- grad mode


def test_no_grad_builds_no_graph_and_restores_the_mode():
    w = Tensor(rand(3), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        with no_grad():
            pass
        assert not is_grad_enabled()
        y = (w * 2.0).sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y._parents == ()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_constants_do_not_require_grad_and_receive_none():
    x = Tensor(rand(2, 3))
    w = Tensor(rand(3, 2), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None and w.grad is not None


def test_leaf_gradients_accumulate_until_zeroed_and_intermediates_do_not():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = w * 3.0
    out = (h * h).sum()
    out.backward()
    out.backward()
    np.testing.assert_allclose(w.grad, 2 * 18 * w.data)
    np.testing.assert_allclose(h.grad, 2 * h.data)  # recomputed, not doubled
    w.zero_grad()
    out.backward()
    np.testing.assert_allclose(w.grad, 18 * w.data)


def test_leaf_gradients_are_owned_arrays():
    a, b = Tensor(rand(3), requires_grad=True), Tensor(rand(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad += 1.0  # must not change b's gradient
    np.testing.assert_array_equal(b.grad, np.ones(3))


def test_backward_seed_must_match_the_shape():
    t = Tensor(rand(2, 2), requires_grad=True) * 2.0
    with pytest.raises(ValueError, match="grad has shape"):
        t.backward(np.ones(3))


# --------------------------------------------------------------- parameters


def test_parameter_wraps_the_arrays_and_writes_the_gradient_into_grad():
    value, grad = rand(3, 2), np.full((3, 2), np.nan)
    w = Tensor.parameter(value, grad)
    x = rand(4, 3)
    (Tensor(x) @ w).sum().backward()
    assert w.data is value and w.grad is grad
    np.testing.assert_allclose(grad, x.T @ np.ones((4, 2)))
    value *= 0.0  # an optimizer updating in place changes the tensor
    assert np.all((Tensor(x) @ w).data == 0)


TWICE_CASES = [
    ("W @ W", lambda w: (w @ w).sum(), lambda w: np.ones((2, 2)) @ w.T + w.T @ np.ones((2, 2))),
    ("used by two products", lambda w: (Tensor(np.eye(2)) @ w + Tensor(2 * np.eye(2)) @ w).sum(), lambda w: 3 * np.ones((2, 2))),
    ("bias used twice", lambda w: (Tensor(np.ones((3, 2))) + w[0] + w[0]).sum(), lambda w: np.array([[6.0, 6.0], [0.0, 0.0]])),
]


@pytest.mark.parametrize("name, fn, expected", TWICE_CASES, ids=[case[0] for case in TWICE_CASES])
def test_a_parameter_used_twice_gets_the_sum_in_its_buffer(name, fn, expected):
    value, grad = rand(2, 2), np.zeros((2, 2))
    fn(Tensor.parameter(value, grad)).backward()
    np.testing.assert_allclose(grad, expected(value))


def test_parameter_buffer_must_match():
    with pytest.raises(ValueError, match="grad must match"):
        Tensor.parameter(np.zeros(3), np.zeros(3, dtype=np.float32))


# ------------------------------------------------------------------- dtypes

DTYPE_CASES = [
    ("add/mul/div/pow", lambda a, b: (a + b) * a / (b * b + 1.0) + (a * a) ** 1.5),
    ("matmul/linear", lambda a, b: (a @ b.T).tanh() + a.linear(b.T, b[:, 0])),
    ("reductions", lambda a, b: a.sum(axis=0) + a.mean(axis=0) * b.max(axis=0)),
    ("activations", lambda a, b: a.relu() + a.leaky_relu(0.1) + b.sigmoid() + b.exp().log()),
    ("shape", lambda a, b: a.reshape(4, 3).T[1:] + b.transpose()[np.array([0, 1])]),
    ("softmax", lambda a, b: a.log_softmax() + b.cross_entropy(np.array([0, 1, 2, 0]))),
]


@pytest.mark.parametrize("name, fn", DTYPE_CASES, ids=[case[0] for case in DTYPE_CASES])
def test_float32_stays_float32_and_matches_float64(name, fn):
    rng = np.random.default_rng(3)
    a64, b64 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)) + 2.0
    grads = {}
    for dtype in (np.float32, np.float64):
        a, b = Tensor(a64.astype(dtype), requires_grad=True), Tensor(b64.astype(dtype), requires_grad=True)
        out = fn(a, b)
        assert out.dtype == dtype
        out.sum().backward()
        assert a.grad.dtype == dtype and b.grad.dtype == dtype
        grads[dtype] = (a.grad, b.grad)
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ depth


def test_a_deep_chain_back_propagates_without_recursion():
    x = Tensor(np.array([0.5, -0.5]), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 20_000)


def test_repr_and_inspection():
    t = Tensor([[1.0, 2.0]], requires_grad=True)
    assert t.shape == (1, 2) and t.ndim == 2 and t.size == 2 and len(t) == 1 and t.dtype == np.float64
    assert "requires_grad=True" in repr(t)
    assert t.detach().requires_grad is False and t.numpy() is t.data
    assert Tensor(t).data is t.data

"""The scalar ``Value`` engine: values, gradients, deep graphs, memory, the nn module."""

from __future__ import annotations

import gc
import math
import random
import sys

import numpy as np
import pytest

from harness_autograd import MLP, Layer, Neuron, Value

EPS = 1e-6
TOLERANCE = 1e-7


# ------------------------------------------------------------------ random graphs
#
# A graph is a recipe: a list of steps (op, operand indices, constant) over a pool of
# nodes that starts with the leaves. Operands are drawn from the whole pool, so most
# graphs reuse nodes (shared subexpressions). The same recipe is evaluated with
# ``Value`` (for the analytical gradient) and with plain floats and ``math`` (for the
# central differences and to check the forward values).

UNARY = ("neg", "exp", "log", "relu", "tanh", "sigmoid", "pow_k")
BINARY = ("add", "sub", "mul", "div", "pow")
WITH_NUMBER = ("add_k", "sub_k", "mul_k", "div_k", "k_add", "k_sub", "k_mul", "k_div", "k_pow")
OPS = UNARY + BINARY + WITH_NUMBER


def apply(op: str, a, b, k, *, floats: bool):
    """One step on Values (``floats=False``) or on floats with ``math``."""
    if op == "neg":
        return -a
    if op == "exp":
        return math.exp(a) if floats else a.exp()
    if op == "log":
        return math.log(a) if floats else a.log()
    if op == "relu":
        return max(a, 0.0) if floats else a.relu()
    if op == "tanh":
        return math.tanh(a) if floats else a.tanh()
    if op == "sigmoid":
        return 1.0 / (1.0 + math.exp(-a)) if floats else a.sigmoid()
    if op == "pow_k":
        return a ** k
    if op == "pow":
        return a ** b
    binary = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y}
    if op in binary:
        return binary[op](a, b)
    if op.endswith("_k"):  # Value op number
        return binary[op[:-2]](a, k)
    if op == "k_pow":
        return k ** a
    return binary[op[2:]](k, a)  # number op Value


def admissible(op: str, a: float, b: float, k) -> bool:
    """Keep every step smooth near the point (no kink, pole or domain edge within
    reach of the finite differences) and every value moderate."""
    if op == "relu":
        return abs(a) > 1e-2
    if op == "log":
        return a > 0.2
    if op == "exp":
        return a < 3.0
    if op in ("div",):
        return abs(b) > 0.3
    if op == "k_div":
        return abs(a) > 0.3
    if op == "pow_k":
        return a > 0.2 or float(k).is_integer() and abs(a) > 0.2
    if op == "pow":
        return 0.2 < a < 5.0 and abs(b) < 3.0
    if op == "k_pow":
        return a < 3.0
    return True


def random_recipe(rng: random.Random, n_leaves: int, n_steps: int):
    leaves = [rng.uniform(-2.0, 2.0) for _ in range(n_leaves)]
    values = list(leaves)
    steps = []
    while len(steps) < n_steps:
        op = rng.choice(OPS)
        i, j = rng.randrange(len(values)), rng.randrange(len(values))
        k = rng.choice([2, 3, -1, 0.5, 1.5]) if op == "pow_k" else rng.choice([0.5, 1.7, 2.0, 3.0]) if op == "k_pow" else rng.uniform(-2.0, 2.0)
        if op in ("div_k",) and abs(k) < 0.3:
            continue
        if not admissible(op, values[i], values[j], k):
            continue
        result = apply(op, values[i], values[j], k, floats=True)
        if not math.isfinite(result) or abs(result) > 50:
            continue
        values.append(result)
        steps.append((op, i, j, k))
    # The output mixes the last few nodes, so gradients reach leaves by several paths.
    outputs = sorted(rng.sample(range(n_leaves, len(values)), min(3, n_steps)))
    return leaves, steps, outputs


def evaluate(leaves, steps, outputs, *, floats: bool):
    nodes = list(leaves)
    for op, i, j, k in steps:
        nodes.append(apply(op, nodes[i], nodes[j], k, floats=floats))
    total = nodes[outputs[0]]
    for index in outputs[1:]:
        total = total + nodes[index]
    return total, nodes


def central_differences(leaves, steps, outputs) -> list[float]:
    grads = []
    for i in range(len(leaves)):
        upper, lower = list(leaves), list(leaves)
        upper[i] += EPS
        lower[i] -= EPS
        f_upper, _ = evaluate(upper, steps, outputs, floats=True)
        f_lower, _ = evaluate(lower, steps, outputs, floats=True)
        grads.append((f_upper - f_lower) / (2 * EPS))
    return grads


def relative_error(a, b) -> float:
    """``||a − b|| / (||a|| + ||b||)``, the denominator floored at 0.01: some random
    graphs cancel exactly (``-x + (k - -x)``), and there the central differences are
    rounding noise around a true zero, judged by their absolute size."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-2))


@pytest.mark.parametrize("seed", range(300))
def test_random_graph_gradients_match_central_differences(seed):
    rng = random.Random(seed)
    leaves, steps, outputs = random_recipe(rng, n_leaves=rng.randint(1, 4), n_steps=rng.randint(3, 25))
    values = [Value(x) for x in leaves]
    out, nodes = evaluate(values, steps, outputs, floats=False)
    expected, _ = evaluate(leaves, steps, outputs, floats=True)
    assert out.data == pytest.approx(expected, rel=1e-12, abs=1e-12)
    out.backward()
    analytic = [v.grad for v in values]
    error = relative_error(analytic, central_differences(leaves, steps, outputs))
    assert error < TOLERANCE, f"seed {seed}: {steps} -> relative error {error:.2e}"


def test_random_graphs_share_subexpressions_and_use_every_op():
    used, shared = set(), 0
    for seed in range(300):
        rng = random.Random(seed)
        leaves, steps, _ = random_recipe(rng, n_leaves=rng.randint(1, 4), n_steps=rng.randint(3, 25))
        used |= {op for op, *_ in steps}
        operands = []
        for op, i, j, _ in steps:
            operands += [i, j] if op in BINARY else [i]
        shared += len(operands) != len(set(operands))
    assert used == set(OPS)
    assert shared > 250  # nearly every graph uses some node more than once


# ----------------------------------------------------------------- small cases


def test_micrograd_api_with_numbers_on_either_side():
    a = Value(2.0)
    assert (a + 1).data == 3.0 and (1 + a).data == 3.0
    assert (a - 1).data == 1.0 and (1 - a).data == -1.0
    assert (a * 3).data == 6.0 and (3 * a).data == 6.0
    assert (a / 4).data == 0.5 and (4 / a).data == 2.0
    assert (a ** 3).data == 8.0 and (2 ** a).data == pytest.approx(4.0)
    assert (a ** Value(3.0)).data == pytest.approx(8.0)
    assert (-a).data == -2.0
    assert a.exp().data == pytest.approx(math.e ** 2) and a.log().data == pytest.approx(math.log(2))
    assert Value(-1.0).relu().data == 0.0 and a.relu().data == 2.0
    assert a.tanh().data == pytest.approx(math.tanh(2)) and a.sigmoid().data == pytest.approx(1 / (1 + math.exp(-2)))
    assert repr(Value(1.5)) == "Value(data=1.5, grad=0.0)"


def test_gradient_accumulates_where_a_value_is_used_twice():
    a = Value(3.0)
    (a * a + a).backward()
    assert a.grad == 7.0
    b = Value(-4.0)
    c = b + b
    (c * c).backward()  # d/db (2b)² = 8b
    assert b.grad == -32.0


def test_backward_adds_until_grads_are_zeroed():
    a = Value(2.0)
    out = a * a
    out.backward()
    out.backward()
    assert a.grad == 8.0  # micrograd semantics: zero grads between steps


def test_micrograd_reference_expression():
    # The expression and the printed numbers of micrograd's README.
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert f"{g.data:.4f} {a.grad:.4f} {b.grad:.4f}" == "24.7041 138.8338 645.5773"


def test_sigmoid_and_exp_do_not_overflow():
    assert Value(-1000.0).sigmoid().data == 0.0 and Value(1000.0).sigmoid().data == 1.0
    assert Value(1000.0).exp().data == math.inf


def test_log_of_a_non_positive_number_is_an_error():
    with pytest.raises(ValueError):
        Value(0.0).log()


# --------------------------------------------------------- deep graphs, memory


def test_a_chain_of_100_000_operations_back_propagates():
    limit = sys.getrecursionlimit()
    x = Value(0.5)
    y = x
    for i in range(50_000):  # two operations per round: 100 000 nodes in one chain
        y = (y * 1.00001) + (0.001 if i % 2 else -0.001)
    y.backward()
    assert x.grad == pytest.approx(1.00001 ** 50_000, rel=1e-9)
    assert len(y.topological_order()) == 100_001
    assert sys.getrecursionlimit() == limit
    del y  # freeing the chain must not overflow the C stack either


def test_nodes_form_no_reference_cycles():
    """Dropping a graph frees it by reference counting: the cycle collector finds no node.

    Only ``Value`` nodes are counted: another thread of the test process (pytest-xdist's,
    a library's) may leave cycles of its own for the same collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        net = MLP(2, [4, 1], seed=0)
        loss = sum((net([x, -x]) - 1.0) ** 2 for x in (0.5, 1.5, -0.7))
        loss.backward()
        del loss
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds, to look at it
        gc.collect()
        assert not [node for node in gc.garbage if isinstance(node, Value)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


def test_value_has_slots_and_no_instance_dict():
    assert not hasattr(Value(1.0), "__dict__")


# ------------------------------------------------------------------ nn module


def test_mlp_shapes_and_parameters():
    net = MLP(2, [16, 16, 1], seed=0)
    assert len(net.parameters()) == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert isinstance(net([1.0, 2.0]), Value)
    assert len(MLP(3, [4, 2])([1.0, 2.0, 3.0])) == 2
    assert [n.act for n in net.layers[0].neurons] == ["relu"] * 16
    assert net.layers[-1].neurons[0].act == "linear"
    assert len(Layer(3, 5, "tanh")([1, 2, 3])) == 5


def test_neuron_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="act must be one of"):
        Neuron(2, "gelu")


def test_mlp_learns_a_tiny_problem():
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    net = MLP(3, [4, 4, 1], act="tanh", seed=1)
    params = net.parameters()
    losses = []
    for _ in range(60):
        loss = sum((net(x).tanh() - y) ** 2 for x, y in zip(xs, ys))
        net.zero_grad()
        loss.backward()
        for p in params:
            p.data -= 0.05 * p.grad
        losses.append(loss.data)
    assert losses[-1] < 0.05 * losses[0]

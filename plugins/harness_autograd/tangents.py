"""Forward mode for :class:`~harness_autograd.tensor.Tensor`: Jacobian-vector products.

Reverse mode (``Tensor.backward``) pulls one output's cotangent back to every input:
``Jᵀ·u`` in one sweep. Forward mode pushes one input direction ``v`` through to every
output: ``J·v`` in one sweep. Each operation of the Tensor engine has both rules —
its backward rule in :data:`harness_autograd.tensor.BACKWARD`, its forward (tangent)
rule in :data:`JVP` here, under the same name; a test keeps the two tables equal.

How a product ``J·v`` is computed (:func:`tangent`): the function is evaluated once on
tensors that require gradients, which records the graph exactly as for ``backward``;
then the nodes are visited in topological order, *from the inputs to the output*, and
each node's tangent is computed from its operands' tangents by its JVP rule. Leaves
without a seeded tangent (constants, parameters held fixed) contribute zero, and a node
all of whose operands have zero tangent is skipped. One recorded graph serves any
number of directions, as one forward pass serves any number of backward sweeps.

A JVP rule takes the node and one tangent per operand (``None`` for a zero tangent)
and returns the node's tangent. Both rules of an operation describe the same linear
map, so ``⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩`` for every ``v`` and ``u``: the ``jvp_vjp`` gradient
checker tests exactly that, for every component of the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from harness_autograd.tensor import Tensor


class NoTangentRule(NotImplementedError):
    """An operation has a backward rule but no forward-mode rule: the component supports
    reverse mode only (the ``jvp_vjp`` checker skips it, naming the operation)."""


def tangent(output: Tensor, seeds: Mapping[Tensor, np.ndarray]) -> np.ndarray:
    """``J·v`` at ``output``: the tangent of ``output`` given tangents of some leaves.

    ``output`` must have been computed with gradients recorded (grad mode on, the seeded
    leaves ``requires_grad``); ``seeds`` maps leaf tensors to tangent arrays of their
    shapes. Leaves not in ``seeds`` have zero tangent.
    """
    tangents: dict[Tensor, np.ndarray] = {}
    for leaf, value in seeds.items():
        value = np.asarray(value)
        if value.shape != leaf.data.shape:
            raise ValueError(f"tangent: a seed has shape {value.shape}, its tensor {leaf.data.shape}")
        tangents[leaf] = value
    if output.requires_grad:
        for node in output._topological_order():
            op = node._op
            if op is None:
                continue
            operands = tuple(tangents.get(parent) for parent in node._parents)
            if all(t is None for t in operands):
                continue
            rule = JVP.get(op)
            if rule is None:
                raise NoTangentRule(f"operation {op!r} has no forward-mode (JVP) rule")
            result = np.asarray(rule(node, operands))
            if result.shape != node.data.shape:
                result = np.broadcast_to(result, node.data.shape)
            tangents[node] = result
    found = tangents.get(output)
    return np.zeros_like(output.data) if found is None else found


def jvp(f: Callable[..., Tensor], primals: Sequence[np.ndarray], directions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(f(*primals), J·v)`` with ``v`` = ``directions``, one per primal."""
    if len(primals) != len(directions):
        raise ValueError(f"jvp: {len(primals)} primals but {len(directions)} tangents")
    inputs = [Tensor(p, requires_grad=True) for p in primals]
    output = f(*inputs)
    return output.data, tangent(output, dict(zip(inputs, directions)))


def vjp(f: Callable[..., Tensor], primals: Sequence[np.ndarray], cotangent: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(f(*primals), Jᵀ·u)`` with ``u`` = ``cotangent``: reverse mode, for symmetry."""
    inputs = [Tensor(p, requires_grad=True) for p in primals]
    output = f(*inputs)
    output.backward(cotangent)
    return output.data, [np.zeros_like(t.data) if t.grad is None else t.grad for t in inputs]


# ------------------------------------------------------------------ JVP rules
# Each takes the node and its operands' tangents (None: zero) and returns the node's
# tangent. The derivative used is the one the backward rule of the same name uses.


def _zero(t):
    return 0.0 if t is None else t


def _add(node, t):
    ta, tb = t
    return _zero(ta) + _zero(tb)


def _sub(node, t):
    ta, tb = t
    return _zero(ta) - _zero(tb)


def _mul(node, t):
    (a, b), (ta, tb) = node._parents, t
    out = 0.0
    if ta is not None:
        out = ta * b.data
    if tb is not None:
        out = out + a.data * tb
    return out


def _div(node, t):
    (_, b), (ta, tb) = node._parents, t
    out = 0.0 if ta is None else ta
    if tb is not None:
        out = out - node.data * tb
    return out / b.data


def _pow(node, t):
    (a, b), (ta, tb) = node._parents, t
    out = 0.0
    if ta is not None:
        out = ta * b.data * a.data ** (b.data - 1)
    if tb is not None:
        out = out + tb * node.data * np.log(a.data)
    return out


def _matmul(node, t):
    (a, b), (ta, tb) = node._parents, t
    out = 0.0
    if ta is not None:
        out = ta @ b.data
    if tb is not None:
        out = out + a.data @ tb
    return out


def _linear(node, t):
    (x, w, _), (tx, tw, tb) = node._parents, t
    out = 0.0
    if tx is not None:
        out = tx @ w.data
    if tw is not None:
        out = out + x.data @ tw
    if tb is not None:
        out = out + tb
    return out


def _sum(node, t):
    axis, keepdims = node._ctx[0], node._ctx[1]
    return np.sum(t[0], axis=axis, keepdims=keepdims)


def _max(node, t):
    # The backward rule shares the gradient equally among tied maxima; the same linear map forward.
    (a,) = node._parents
    axis, keepdims, out = node._ctx
    winners = (a.data == out).astype(a.data.dtype)
    winners /= winners.sum(axis=axis, keepdims=True)
    return np.sum(t[0] * winners, axis=axis, keepdims=keepdims)


def _leaky_relu(node, t):
    positive, alpha = node._ctx
    return np.where(positive, t[0], t[0] * alpha)


def _log_softmax(node, t):
    axis = node._ctx
    return t[0] - np.sum(np.exp(node.data) * t[0], axis=axis, keepdims=True)


def _cross_entropy(node, t):
    # d loss = Σ (softmax − T) ⊙ d logits / m, the backward rule's matrix, rounded the same way.
    probs, labels, rows, eps = node._ctx
    grad = probs.copy()
    if eps:
        grad -= eps / grad.shape[1]
    grad[rows, labels] -= 1.0 - eps
    return np.asarray(np.sum(grad * t[0]) / len(labels), dtype=node.data.dtype)


JVP: dict[str, Callable] = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "pow": _pow,
    "matmul": _matmul,
    "linear": _linear,
    "neg": lambda node, t: -t[0],
    "sum": _sum,
    "max": _max,
    "reshape": lambda node, t: t[0].reshape(node.data.shape),
    "transpose": lambda node, t: t[0].transpose(node._ctx),
    "getitem": lambda node, t: t[0][node._ctx],
    "exp": lambda node, t: t[0] * node.data,
    "log": lambda node, t: t[0] / node._parents[0].data,
    "relu": lambda node, t: t[0] * (node.data > 0),
    "leaky_relu": _leaky_relu,
    "tanh": lambda node, t: t[0] * (1 - node.data * node.data),
    "sigmoid": lambda node, t: t[0] * node.data * (1 - node.data),
    "log_softmax": _log_softmax,
    "cross_entropy": _cross_entropy,
}

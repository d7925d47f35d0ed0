"""``Tensor``: reverse-mode automatic differentiation over NumPy arrays.

The same idea as :class:`~harness_autograd.value.Value`, one level up: a node holds a
whole array, so an MNIST training step is about a dozen nodes (matrix product, bias,
ReLU, ..., the loss) and the arithmetic runs in NumPy, not in Python.

How it works:

* An operation on tensors returns a new tensor that records the operation's name
  (``_op``), its operands (``_parents``) and whatever its backward rule needs
  (``_ctx``), but only if grad mode is on (see :class:`no_grad`) and some operand
  requires a gradient. Otherwise the result is a plain leaf: evaluation builds no graph.
* ``backward()`` orders the nodes that require a gradient topologically (explicit
  stack, no recursion) and calls each node's backward rule from :data:`BACKWARD`,
  which returns one gradient per operand (``None`` for operands that do not need one:
  the gradient of an input batch is never computed).
* Broadcasting: an operand that NumPy stretched gets its gradient summed back to its
  own shape (:func:`unbroadcast`).
* Leaf gradients accumulate across ``backward`` calls, as in PyTorch; clear them with
  ``zero_grad()``. A leaf may own a persistent gradient array (``Tensor.parameter``):
  its gradient is then written into that array, by the matrix product and the bias
  sum directly (``out=``), so a training step allocates no gradient for parameters.
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import numpy as np

# What an operation accepts besides a tensor: arrays and numbers become constants (``_lift``).
Operand: TypeAlias = "Tensor | np.ndarray | float"


class _GradMode:
    enabled = True


class no_grad:
    """Context manager: operations inside build no graph (evaluation, inference)."""

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self._previous
        return False


def is_grad_enabled() -> bool:
    return _GradMode.enabled


class Tensor:
    """An array, and the gradient of the final output with respect to it."""

    __slots__ = ("data", "grad", "requires_grad", "_op", "_parents", "_ctx", "_grad_buffer")
    __array_ufunc__ = None  # ``ndarray * Tensor`` defers to ``Tensor.__rmul__``

    data: np.ndarray
    grad: np.ndarray | None
    requires_grad: bool
    _op: str | None  # None for a leaf, else the key of its rule in BACKWARD
    _parents: tuple[Tensor, ...]
    _ctx: Any  # what the op's backward rule needs (axes, masks, ...): the op decides
    _grad_buffer: np.ndarray | None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        self.data = np.asarray(data.data if isinstance(data, Tensor) else data, dtype=dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._op = None
        self._parents = ()
        self._ctx = None
        self._grad_buffer = None

    @classmethod
    def parameter(cls, value: np.ndarray, grad: np.ndarray) -> Tensor:
        """A leaf that wraps ``value`` (no copy) and writes its gradient into ``grad``.

        Both arrays stay the caller's: an optimizer updating ``value`` in place changes
        the tensor, and after ``backward`` ``grad`` holds the gradient.
        """
        if grad.shape != value.shape or grad.dtype != value.dtype:
            raise ValueError(f"grad must match value's shape {value.shape} and dtype {value.dtype}")
        t = cls(value, requires_grad=True)
        t._grad_buffer = grad
        return t

    # ----------------------------------------------------------------- inspection

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    T = property(lambda self: self.transpose())

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, threshold=20)}, dtype={self.data.dtype}{grad})"

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------- arithmetic

    def __add__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        return _node(self.data + other.data, "add", (self, other))

    def __sub__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        return _node(self.data - other.data, "sub", (self, other))

    def __mul__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        return _node(self.data * other.data, "mul", (self, other))

    def __truediv__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        return _node(self.data / other.data, "div", (self, other))

    def __pow__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        return _node(self.data ** other.data, "pow", (self, other))

    def __matmul__(self, other: Operand) -> Tensor:
        other = _lift(other, self)
        return _node(self.data @ other.data, "matmul", (self, other))

    def linear(self, weight: Operand, bias: Operand) -> Tensor:
        """``self @ weight + bias`` as one node, for ``(m, n) @ (n, k) + (k,)``.

        The same value and gradients as the two-node expression, with one array fewer
        per call: the bias is added in place to the product, which nothing else holds.
        """
        weight, bias = _lift(weight, self), _lift(bias, self)
        if self.data.ndim != 2 or weight.data.ndim != 2 or bias.data.shape != weight.data.shape[1:]:
            raise ValueError(f"linear needs (m, n) @ (n, k) + (k,), got {self.shape} @ {weight.shape} + {bias.shape}")
        out = self.data @ weight.data
        out += bias.data
        return _node(out, "linear", (self, weight, bias))

    def __radd__(self, other: Operand) -> Tensor:
        return _lift(other, self) + self

    def __rsub__(self, other: Operand) -> Tensor:
        return _lift(other, self) - self

    def __rmul__(self, other: Operand) -> Tensor:
        return _lift(other, self) * self

    def __rtruediv__(self, other: Operand) -> Tensor:
        return _lift(other, self) / self

    def __rpow__(self, other: Operand) -> Tensor:
        return _lift(other, self) ** self

    def __rmatmul__(self, other: Operand) -> Tensor:
        return _lift(other, self) @ self

    def __neg__(self) -> Tensor:
        return _node(-self.data, "neg", (self,))

    # ------------------------------------------------------------- reductions

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _node(np.asarray(self.data.sum(axis=axis, keepdims=keepdims)), "sum", (self,), (axis, keepdims))

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        axes = range(self.data.ndim) if axis is None else axis if isinstance(axis, tuple) else (axis,)
        count = math.prod(self.data.shape[i] for i in axes)
        return self.sum(axis, keepdims) * (1.0 / count)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        out = self.data.max(axis=axis, keepdims=True)
        data = out if keepdims else out.reshape(()) if axis is None else np.squeeze(out, axis=axis)
        return _node(data, "max", (self,), (axis, keepdims, out))

    # ---------------------------------------------------------------- shape

    def reshape(self, *shape: Any) -> Tensor:
        dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _node(self.data.reshape(dims), "reshape", (self,))

    def transpose(self, *axes: Any) -> Tensor:
        given = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        order = tuple(given) if given else tuple(reversed(range(self.data.ndim)))
        return _node(self.data.transpose(order), "transpose", (self,), order)

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        return _node(np.asarray(self.data[index]), "getitem", (self,), index)

    # ------------------------------------------------------------ elementwise

    def exp(self) -> Tensor:
        return _node(np.exp(self.data), "exp", (self,))

    def log(self) -> Tensor:
        return _node(np.log(self.data), "log", (self,))

    def relu(self) -> Tensor:
        return _node(np.maximum(self.data, 0), "relu", (self,))

    def leaky_relu(self, alpha: float = 0.01) -> Tensor:
        positive = self.data > 0
        slope = np.asarray(alpha, dtype=self.data.dtype)
        return _node(np.where(positive, self.data, self.data * slope), "leaky_relu", (self,), (positive, slope))

    def tanh(self) -> Tensor:
        return _node(np.tanh(self.data), "tanh", (self,))

    def sigmoid(self) -> Tensor:
        # (1 + tanh(x/2)) / 2 equals 1 / (1 + e^-x) and never overflows.
        out = np.tanh(self.data * 0.5)
        out += 1
        out *= 0.5
        return _node(out, "sigmoid", (self,))

    # ------------------------------------------------------ softmax family

    def log_softmax(self, axis: int = -1) -> Tensor:
        """``x − logΣexp(x)`` along ``axis``, with the maximum subtracted first (stable)."""
        shifted = self.data - self.data.max(axis=axis, keepdims=True)
        shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        return _node(shifted, "log_softmax", (self,), axis)

    def cross_entropy(self, labels: Tensor | np.ndarray, label_smoothing: float = 0.0) -> Tensor:
        """Mean over rows of ``−Σ_j T_ij log softmax(self)_ij``, fused and stable.

        ``self`` holds logits of shape ``(m, classes)``, ``labels`` integer classes;
        ``T`` is one-hot, or ``(1−ε)·onehot + ε/K`` with ``label_smoothing`` ε. The
        backward rule is the classic shortcut ``(softmax − T) / m``; no softmax Jacobian
        and no log-softmax array are ever formed.
        """
        z = self.data
        labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
        if z.ndim != 2 or labels.shape != (z.shape[0],):
            raise ValueError(f"cross_entropy needs logits (m, classes) and m labels, got {z.shape} and {labels.shape}")
        rows = _arange(len(labels))
        shifted = z - z.max(axis=1, keepdims=True)
        picked = shifted[rows, labels].sum()
        if label_smoothing:
            picked = (1 - label_smoothing) * picked + label_smoothing / z.shape[1] * shifted.sum()
        probs = np.exp(shifted, out=shifted)
        total = probs.sum(axis=1, keepdims=True)
        loss = (np.log(total).sum() - picked) / len(labels)
        probs /= total
        return _node(np.asarray(loss, dtype=z.dtype), "cross_entropy", (self,), (probs, labels, rows, label_smoothing))

    # ---------------------------------------------------------------- backward

    def backward(self, grad: Tensor | np.ndarray | float | None = None) -> None:
        """Gradients of ``self`` (seeded with ``grad``, default ones) for every node.

        Intermediate gradients are recomputed on every call; leaf gradients add up.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (built under no_grad, or from constants only)")
        seed = np.ones(self.data.shape, self.data.dtype) if grad is None else np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
        if seed.shape != self.data.shape:
            raise ValueError(f"backward: grad has shape {seed.shape}, the tensor {self.data.shape}")
        order = self._topological_order()
        for node in order:
            if node._op is not None:
                node.grad = None
        _accumulate(self, seed)
        for node in reversed(order):
            op = node._op
            if op is None or node.grad is None:
                continue
            grads = BACKWARD[op](node, node.grad)
            for parent, parent_grad in zip(node._parents, grads):
                if parent_grad is not None:
                    _accumulate(parent, parent_grad)

    def _topological_order(self) -> list[Tensor]:
        """Nodes that require a gradient, each after its operands (see ``Value``)."""
        order: list[Tensor] = []
        seen: set[Tensor] = set()
        stack: list[Tensor | None] = [self]
        push, pop, add = stack.append, stack.pop, seen.add
        while stack:
            node = pop()
            if node is None:
                done = pop()
                assert done is not None  # the node pushed just before this marker
                order.append(done)
            elif node not in seen:
                add(node)
                push(node)
                push(None)
                for parent in node._parents:
                    if parent.requires_grad and parent not in seen:
                        push(parent)
        return order


# ------------------------------------------------------------------- plumbing


def _lift(value: Operand, like: Tensor) -> Tensor:
    """Operands that are not tensors become constants; Python numbers take ``like``'s
    float dtype so that ``float32_tensor * 0.5`` stays float32."""
    if value.__class__ is Tensor:
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    dtype = like.data.dtype if like.data.dtype.kind == "f" else None
    return Tensor(np.asarray(value, dtype=dtype))


def _node(data: np.ndarray, op: str, parents: tuple[Tensor, ...], ctx: Any = None) -> Tensor:
    """The result of ``op``; a graph node only if grad mode is on and it needs one."""
    out = Tensor.__new__(Tensor)
    out.data, out.grad, out._grad_buffer = data, None, None
    if _GradMode.enabled:
        for parent in parents:
            if parent.requires_grad:
                out.requires_grad, out._op, out._parents, out._ctx = True, op, parents, ctx
                return out
    out.requires_grad, out._op, out._parents, out._ctx = False, None, (), None
    return out


def _accumulate(node: Tensor, grad: np.ndarray) -> None:
    """Add ``grad`` to ``node.grad`` without ever changing an array another node holds.

    A leaf keeps arrays of its own (its persistent buffer, or a copy): a user may
    change ``leaf.grad`` in place. Intermediate nodes may share arrays (the two
    operands of ``+`` receive the same one), so their sums are out of place.
    """
    current = node.grad
    if current is None:
        if node._op is None:
            buffer = node._grad_buffer
            if buffer is None:
                grad = np.array(grad, dtype=node.data.dtype)
            elif grad is not buffer:
                np.copyto(buffer, grad)
                grad = buffer
        node.grad = grad
    elif node._op is None:
        current += grad
    else:
        node.grad = current + grad


def _sink(t: Tensor, node: Tensor) -> np.ndarray | None:
    """Where ``node``'s backward rule may write ``t``'s gradient directly (``out=``):
    ``t``'s persistent buffer if ``t`` is a leaf with no gradient yet in this pass and
    is only one of ``node``'s operands (``W @ W`` gets two gradients); else ``None``."""
    if t.grad is None and t._grad_buffer is not None and node._parents.count(t) == 1:
        return t._grad_buffer
    return None


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """Sum ``grad`` over the axes NumPy broadcast to reach ``grad.shape`` from ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if not stretched:
        return np.asarray(grad.sum(axis=tuple(range(lead)), out=out))
    return grad.sum(axis=tuple(range(lead)) + stretched, keepdims=True).reshape(shape)


_ROWS: dict[int, np.ndarray] = {}


def _arange(n: int) -> np.ndarray:
    """``arange(n)``, kept between calls: every full batch has the same size."""
    rows = _ROWS.get(n)
    if rows is None:
        rows = _ROWS[n] = np.arange(n)
    return rows


def _is_basic_index(index) -> bool:
    """Ints, slices, ``None`` and ``...`` select each element at most once."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


# -------------------------------------------------------------- backward rules
# Each takes the node and the gradient of the output with respect to it, and
# returns one gradient per operand, shaped like that operand (or None if the operand
# does not require one).


def _add(node, g):
    a, b = node._parents
    return (unbroadcast(g, a.data.shape, _sink(a, node)) if a.requires_grad else None,
            unbroadcast(g, b.data.shape, _sink(b, node)) if b.requires_grad else None)


def _sub(node, g):
    a, b = node._parents
    return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
            unbroadcast(-g, b.data.shape) if b.requires_grad else None)


def _mul(node, g):
    a, b = node._parents
    return (unbroadcast(g * b.data, a.data.shape) if a.requires_grad else None,
            unbroadcast(g * a.data, b.data.shape) if b.requires_grad else None)


def _div(node, g):
    a, b = node._parents
    ga = g / b.data
    return (unbroadcast(ga, a.data.shape) if a.requires_grad else None,
            unbroadcast(-ga * node.data, b.data.shape) if b.requires_grad else None)


def _pow(node, g):
    a, b = node._parents
    ga = gb = None
    if a.requires_grad:
        ga = unbroadcast(g * b.data * a.data ** (b.data - 1), a.data.shape)
    if b.requires_grad:
        gb = unbroadcast(g * node.data * np.log(a.data), b.data.shape)
    return ga, gb


def _matmul(node, g):
    a, b = node._parents
    ad, bd = a.data, b.data
    if ad.ndim == 2 and bd.ndim == 2:  # the MLP case: no promotion, no batch axes
        return (g @ bd.T if a.requires_grad else None,
                np.matmul(ad.T, g, out=_sink(b, node)) if b.requires_grad else None)
    # np.matmul promotes a 1-D left operand to a row and a 1-D right one to a column,
    # and broadcasts leading (batch) axes; undo both.
    a2 = ad[None, :] if ad.ndim == 1 else ad
    b2 = bd[:, None] if bd.ndim == 1 else bd
    g2 = np.expand_dims(g, -1) if bd.ndim == 1 else g
    g2 = np.expand_dims(g2, -2) if ad.ndim == 1 else g2
    ga = gb = None
    if a.requires_grad:
        ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(ad.shape)
    if b.requires_grad:
        gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(bd.shape)
    return ga, gb


def _linear(node, g):
    x, w, b = node._parents
    return (g @ w.data.T if x.requires_grad else None,
            np.matmul(x.data.T, g, out=_sink(w, node)) if w.requires_grad else None,
            g.sum(axis=0, out=_sink(b, node)) if b.requires_grad else None)


def _expand(g, node):
    """``g`` of a reduction's output, laid out again with the reduced axes of size 1."""
    axis, keepdims = node._ctx[0], node._ctx[1]
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return g


def _sum(node, g):
    (a,) = node._parents
    return (np.broadcast_to(_expand(g, node), a.data.shape),)


def _max(node, g):
    (a,) = node._parents
    out = node._ctx[2]
    winners = (a.data == out).astype(a.data.dtype)  # ties share the gradient equally
    winners /= winners.sum(axis=node._ctx[0], keepdims=True)
    return (_expand(g, node) * winners,)


def _getitem(node, g):
    (a,) = node._parents
    grad = np.zeros_like(a.data)
    if _is_basic_index(node._ctx):
        grad[node._ctx] = g
    else:
        np.add.at(grad, node._ctx, g)
    return (grad,)


def _log_softmax(node, g):
    axis = node._ctx
    return (g - np.exp(node.data) * g.sum(axis=axis, keepdims=True),)


def _cross_entropy(node, g):
    # (probs − T) · g/m, rounded exactly as the backprop engine rounds it.
    probs, labels, rows, eps = node._ctx
    grad = probs.copy()
    if eps:
        grad -= eps / grad.shape[1]
    grad[rows, labels] -= 1.0 - eps
    grad *= g / len(labels)
    return (grad,)


def _leaky_relu(node, g):
    positive, alpha = node._ctx
    return (np.where(positive, g, g * alpha),)


BACKWARD = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "pow": _pow,
    "matmul": _matmul,
    "linear": _linear,
    "neg": lambda node, g: (-g,),
    "sum": _sum,
    "max": _max,
    "reshape": lambda node, g: (g.reshape(node._parents[0].data.shape),),
    "transpose": lambda node, g: (g.transpose(np.argsort(node._ctx)),),
    "getitem": _getitem,
    "exp": lambda node, g: (g * node.data,),
    "log": lambda node, g: (g / node._parents[0].data,),
    "relu": lambda node, g: (g * (node.data > 0),),
    "leaky_relu": _leaky_relu,
    "tanh": lambda node, g: (g * (1 - node.data * node.data),),
    "sigmoid": lambda node, g: (g * node.data * (1 - node.data),),
    "log_softmax": _log_softmax,
    "cross_entropy": _cross_entropy,
}

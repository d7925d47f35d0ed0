"""``Value``: reverse-mode automatic differentiation of scalar expressions.

The teaching piece, in the spirit of Karpathy's micrograd: every arithmetic operation
on a ``Value`` returns a new ``Value`` that remembers the operation (``_op``) and its
operands (``_a``, ``_b``). ``backward()`` orders the graph so every node comes after
all nodes that use it, then applies the chain rule once per node, from the output
back to the leaves.

A few choices keep it fast without making it much harder to read:

* ``__slots__``: a node is a small fixed record, not a dictionary.
* No closure per node: the backward rule of each operation is one branch of the loop
  in :meth:`Value.backward`, chosen by ``_op``. A closure that captures its own output
  node is a reference cycle, which only Python's cycle collector can free; here a node
  refers only to its operands, so a graph is freed by reference counting the moment it
  is dropped and the collector finds nothing to do.
* The topological order is built with an explicit stack, not recursion, so a chain of
  a million operations back-propagates as happily as a short one. Visited nodes are
  marked in the node itself (``_mark``), not in a set: a graph of 65 000 nodes would
  need a hash table of megabytes, and filling it costs more than the sort.
* ``+`` and ``*``, most of every graph, fill their result field by field instead of
  calling ``Value(...)``, which saves a type call and an ``__init__`` frame per node.

Operands may be ``Value`` or plain numbers, on either side. A number operand is stored
as a constant in ``_b`` (ops ``+k``, ``*k``, ``**k``) rather than wrapped in a node.
"""

from __future__ import annotations

import math
from typing import Any, final

_new = object.__new__  # a Value with no fields set yet, for the hot operations below


@final  # the operations test ``type(x) is Value``: a subclass instance would count as a constant
class Value:
    """A scalar and the gradient of the final output with respect to it."""

    __slots__ = ("data", "grad", "_op", "_a", "_b", "_mark")

    data: float
    grad: float
    _op: str
    _a: Value | None
    _b: Any  # a Value ("+", "*"), the number of a "k" op, or None: _op says which, mypy cannot
    _mark: object

    def __init__(self, data: float, _op: str = "", _a: Value | None = None, _b: Value | float | None = None):
        self.data = data
        self.grad = 0.0
        self._op = _op  # "" for a leaf, else the operation that produced this value
        self._a = _a    # first operand
        self._b = _b    # second operand: a Value, or the constant of a "k" op
        self._mark = None  # the token of the last topological sort that visited it

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # ----------------------------------------------------------------- operations

    def __add__(self, other: Value | float) -> Value:
        out = _new(Value)  # Value(self.data + other.data, "+", self, other), unrolled
        if type(other) is Value:
            out.data = self.data + other.data
            out._op = "+"
        else:
            out.data = self.data + other
            out._op = "+k"
        out.grad = 0.0
        out._a = self
        out._b = other
        out._mark = None
        return out

    def __mul__(self, other: Value | float) -> Value:
        out = _new(Value)  # Value(self.data * other.data, "*", self, other), unrolled
        if type(other) is Value:
            out.data = self.data * other.data
            out._op = "*"
        else:
            out.data = self.data * other
            out._op = "*k"
        out.grad = 0.0
        out._a = self
        out._b = other
        out._mark = None
        return out

    def __pow__(self, other: Value | float) -> Value:
        if type(other) is Value:  # x ** y = exp(y · log x), for x > 0
            return (other * self.log()).exp()
        return Value(self.data ** other, "**k", self, other)

    def __rpow__(self, base: float) -> Value:  # base ** x = exp(x · log base), for base > 0
        return (self * math.log(base)).exp()

    def exp(self) -> Value:
        try:
            out = math.exp(self.data)
        except OverflowError:
            out = math.inf
        return Value(out, "exp", self)

    def log(self) -> Value:
        return Value(math.log(self.data), "log", self)

    def relu(self) -> Value:
        return Value(self.data if self.data > 0 else 0.0, "relu", self)

    def tanh(self) -> Value:
        return Value(math.tanh(self.data), "tanh", self)

    def sigmoid(self) -> Value:
        # (1 + tanh(x/2)) / 2 equals 1 / (1 + e^-x) and never overflows.
        return Value(0.5 + 0.5 * math.tanh(0.5 * self.data), "sigmoid", self)

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:
        return self + (-other)

    def __truediv__(self, other: Value | float) -> Value:
        if type(other) is Value:
            return self * other ** -1.0
        return self * (1.0 / other)

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rsub__(self, other: float) -> Value:
        return (-self) + other

    def __rtruediv__(self, other: float) -> Value:
        return self ** -1.0 * other

    # ------------------------------------------------------------------- backward

    def topological_order(self) -> list[Value]:
        """Every node this value depends on, each after all of its operands.

        Depth first with an explicit stack: a node is pushed, then a ``None`` marker,
        then its operands; when the marker surfaces again all operands are placed, so
        the node goes next. A node is visited once: it carries this sort's token.
        """
        order: list[Value] = []
        stack: list[Value | None] = [self]
        token = object()
        push, pop = stack.append, stack.pop
        while stack:
            node = pop()
            if node is None:
                done = pop()
                assert done is not None  # the node pushed just before this marker
                order.append(done)
            elif node._mark is not token:
                node._mark = token
                push(node)
                push(None)
                a, b = node._a, node._b
                if type(b) is Value and b._mark is not token:
                    push(b)
                if a is not None and a._mark is not token:
                    push(a)
        return order

    def backward(self) -> None:
        """Add ``d self / d node`` to ``node.grad`` for every node of the graph.

        Gradients accumulate (``+=``): a value used twice receives both contributions,
        and calling ``backward`` again adds again, so zero ``grad`` between steps.
        """
        order = self.topological_order()
        self.grad = 1.0
        for node in reversed(order):
            a = node._a
            if a is None:  # a leaf (op ""): nothing to pass its gradient on to
                continue
            op, g, b = node._op, node.grad, node._b
            if op == "*":
                a.grad += g * b.data
                b.grad += g * a.data
            elif op == "+":
                a.grad += g
                b.grad += g
            elif op == "*k":
                a.grad += g * b
            elif op == "+k":
                a.grad += g
            elif op == "tanh":
                a.grad += g * (1.0 - node.data * node.data)
            elif op == "relu":
                if node.data > 0:
                    a.grad += g
            elif op == "sigmoid":
                a.grad += g * node.data * (1.0 - node.data)
            elif op == "exp":
                a.grad += g * node.data
            elif op == "log":
                a.grad += g / a.data
            elif op == "**k":
                a.grad += g * b * a.data ** (b - 1)
            else:  # pragma: no cover - every constructor above uses one of these ops
                raise RuntimeError(f"Value: no backward rule for op {op!r}")

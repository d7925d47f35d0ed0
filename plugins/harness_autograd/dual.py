"""``Dual``: forward-mode automatic differentiation of scalar expressions.

The mirror image of :class:`~harness_autograd.value.Value`. A dual number carries a
value and its *tangent*, the derivative of that value along one chosen input
direction: ``Dual(3.0, 1.0)`` is "x = 3, and we differentiate with respect to x".
Every operation computes its result and the result's tangent side by side, by the
chain rule applied forward, so when the expression is evaluated its derivative is
already there. No graph is stored and nothing runs backwards.

The cost is the other side of the coin: one evaluation gives the derivative along
*one* input direction, so a gradient with respect to n inputs takes n evaluations
(forward mode), where ``Value.backward`` gives all n partials of one output in a single
backward pass (reverse mode). Forward mode wins when outputs outnumber inputs;
``benchmarks/modes.py`` measures where the two cross.

The operations are ``Value``'s: ``+ - * / **`` with numbers on either side, ``exp``,
``log``, ``relu``, ``tanh``, ``sigmoid``; ``data`` is the value, as in ``Value``, so
code written for one (the scalar engine's losses) runs on the other.
"""

from __future__ import annotations

import math


class Dual:
    """A number and its tangent: ``data + tangent·ε`` with ``ε² = 0``."""

    __slots__ = ("data", "tangent")

    def __init__(self, data, tangent=0.0):
        self.data = data
        self.tangent = tangent

    def __repr__(self) -> str:
        return f"Dual(data={self.data!r}, tangent={self.tangent!r})"

    # ------------------------------------------------ operations: value | tangent

    def __add__(self, other):
        if other.__class__ is Dual:
            return Dual(self.data + other.data, self.tangent + other.tangent)
        return Dual(self.data + other, self.tangent)

    def __mul__(self, other):
        if other.__class__ is Dual:  # (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε
            return Dual(self.data * other.data, self.tangent * other.data + self.data * other.tangent)
        return Dual(self.data * other, self.tangent * other)

    def __pow__(self, other):
        if other.__class__ is Dual:  # x ** y = exp(y · log x), for x > 0
            return (other * self.log()).exp()
        return Dual(self.data ** other, other * self.data ** (other - 1) * self.tangent)

    def __rpow__(self, base):  # base ** x = exp(x · log base), for base > 0
        return (self * math.log(base)).exp()

    def exp(self):
        try:
            out = math.exp(self.data)
        except OverflowError:
            out = math.inf
        return Dual(out, out * self.tangent)

    def log(self):
        return Dual(math.log(self.data), self.tangent / self.data)

    def relu(self):
        return Dual(self.data, self.tangent) if self.data > 0 else Dual(0.0, 0.0)

    def tanh(self):
        out = math.tanh(self.data)
        return Dual(out, (1.0 - out * out) * self.tangent)

    def sigmoid(self):
        out = 0.5 + 0.5 * math.tanh(0.5 * self.data)  # never overflows, as in Value
        return Dual(out, out * (1.0 - out) * self.tangent)

    # ------------------------------------------------------- derived, as in Value

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        if other.__class__ is Dual:
            return self * other ** -1.0
        return self * (1.0 / other)

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return (-self) + other

    def __rtruediv__(self, other):
        return self ** -1.0 * other


def derivative(f, x: float) -> tuple[float, float]:
    """``(f(x), f'(x))`` for a function of one number, in one forward evaluation."""
    out = f(Dual(x, 1.0))
    return (out.data, out.tangent) if out.__class__ is Dual else (out, 0.0)


def jvp(f, primals: list[float], tangents: list[float]) -> tuple[list[float], list[float]]:
    """``f(primals)`` and ``J·tangents`` for ``f`` from a list of numbers to a list (or one).

    One evaluation of ``f`` on dual numbers: the directional derivative of every output
    along ``tangents``.
    """
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    outputs = f([Dual(p, t) for p, t in zip(primals, tangents)])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    values = [o.data if o.__class__ is Dual else o for o in outputs]
    return values, [o.tangent if o.__class__ is Dual else 0.0 for o in outputs]

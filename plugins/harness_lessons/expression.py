"""A safe parser for arithmetic expressions, built into a graph of :class:`Value` nodes.

``harness graph "(x+y)*(x-y)" --at x=3,y=2`` needs the user's text turned into a
computation without ``eval``: the text is split into tokens and read by a small
recursive-descent parser that knows only numbers, names, ``+ - * / **``, unary minus,
parentheses and the functions ``exp``, ``log``, ``tanh``, ``relu`` and ``sigmoid``.
Anything else is refused with one line saying where and why.

Grammar (Python's precedence: ``-x**2`` is ``-(x**2)``, ``2**-1`` is allowed, ``**``
groups to the right)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := "-" unary | "+" unary | power
    power  := atom ("**" unary)?
    atom   := NUMBER | NAME | FUNCTION "(" expr ")" | "(" expr ")"
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from harness import HarnessError
from harness_autograd.value import Value

FUNCTIONS = ("exp", "log", "tanh", "relu", "sigmoid")
MAX_LENGTH = 2000  # a formula, not a program
_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<op>\*\*|[-+*/()]))")


class ExpressionError(HarnessError):
    """The expression or a variable's value cannot be read or evaluated."""


# ------------------------------------------------------------------------ syntax


@dataclass(frozen=True)
class Node:
    """One node of the parsed expression: ``kind`` is num, var, neg, + - * / **, or a function."""

    kind: str
    args: tuple = ()
    value: float | str | None = None

    def text(self) -> str:
        """The node written back as a formula, with the parentheses it needs."""
        if self.kind == "num":
            return f"{self.value:g}"
        if self.kind == "var":
            return str(self.value)
        if self.kind == "neg":
            return f"-{_wrap(self.args[0], 'neg')}"
        if self.kind in FUNCTIONS:
            return f"{self.kind}({self.args[0].text()})"
        a, b = self.args
        return f"{_wrap(a, self.kind)} {self.kind} {_wrap(b, self.kind, right=True)}"

    def variables(self) -> list[str]:
        """Variable names in order of first appearance."""
        if self.kind == "var":
            return [str(self.value)]
        seen: list[str] = []
        for arg in self.args:
            seen += [name for name in arg.variables() if name not in seen]
        return seen


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}


def _wrap(node: Node, parent: str, right: bool = False) -> str:
    """``node``'s text, in parentheses where the parent binds tighter (or equally, on the
    side its associativity does not group: ``a - (b - c)``, ``(a ** b) ** c``)."""
    inner, outer = _PRECEDENCE.get(node.kind, 5), _PRECEDENCE[parent]
    if inner < outer or (inner == outer and parent != "neg" and right != (parent == "**")):
        return f"({node.text()})"
    return node.text()


def tokenize(source: str) -> list[tuple[str, str, int]]:
    """``(kind, text, position)`` for every token; one-line error at the first bad character."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(source)} characters long; at most {MAX_LENGTH} are read")
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            bad = source[position:].lstrip()[0]
            where = len(source) - len(source[position:].lstrip())
            hint = " (use ** for powers)" if bad == "^" else ""
            raise ExpressionError(f"unexpected character {bad!r} at position {where + 1} of {source!r}{hint}")
        kind = match.lastgroup
        assert kind is not None  # every alternative of _TOKEN is a named group
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("the expression is empty")
        node = self.expr()
        if self.i < len(self.tokens):
            _, text, position = self.tokens[self.i]
            raise ExpressionError(f"unexpected {text!r} at position {position + 1} of {self.source!r}")
        return node

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        if self.i >= len(self.tokens):
            raise ExpressionError(f"{self.source!r} ends too early: a number, a name or '(' is missing")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        if self.i >= len(self.tokens):
            raise ExpressionError(f"{self.source!r} ends too early: {text!r} is missing")
        kind, found, position = self.take()
        if found != text:
            raise ExpressionError(f"expected {text!r} at position {position + 1} of {self.source!r}, found {found!r}")

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            node = Node(op, (node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            node = Node(op, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Node("neg", (self.unary(),))
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek() == "**":
            self.take()
            return Node("**", (base, self.unary()))
        return base

    def atom(self) -> Node:
        kind, text, position = self.take()
        if kind == "number":
            return Node("num", value=float(text))
        if kind == "name":
            if text in FUNCTIONS:
                if self.peek() != "(":
                    raise ExpressionError(f"{text} is a function: write {text}(...) (position {position + 1})")
                self.take()
                inner = self.expr()
                self.expect(")")
                return Node(text, (inner,))
            if self.peek() == "(":
                raise ExpressionError(f"unknown function {text!r} at position {position + 1}; known: {', '.join(FUNCTIONS)}")
            return Node("var", value=text)
        if text == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        raise ExpressionError(f"unexpected {text!r} at position {position + 1} of {self.source!r}")


def parse(source: str) -> Node:
    """The syntax tree of ``source``; :class:`ExpressionError` with the position if malformed."""
    return _Parser(source).parse()


# ------------------------------------------------------------------- evaluation


@dataclass
class Built:
    """An expression evaluated with ``Value``: the output, the leaves, a label per node."""

    output: Value
    leaves: dict[str, Value]
    labels: dict[int, str] = field(default_factory=dict)  # id(node) -> the subexpression it computes

    def gradients(self) -> dict[str, float]:
        """``∂output/∂name`` for every variable (one backward pass)."""
        self.output.backward()
        return {name: leaf.grad for name, leaf in self.leaves.items()}


def build(tree: Node, values: dict[str, float]) -> Built:
    """Evaluate ``tree`` at ``values`` with one ``Value`` leaf per variable (shared by every use)."""
    names = tree.variables()
    missing = [n for n in names if n not in values]
    if missing:
        raise ExpressionError(f"no value for {', '.join(missing)}: give --at {','.join(f'{n}=...' for n in missing)}")
    unused = [n for n in values if n not in names]
    if unused:
        raise ExpressionError(f"--at gives {', '.join(unused)}, which the expression does not use (it uses {', '.join(names) or 'no variable'})")
    leaves = {name: Value(float(values[name])) for name in names}
    labels = {id(leaf): name for name, leaf in leaves.items()}

    def walk(node: Node):
        if node.kind == "num":
            return node.value
        if node.kind == "var":
            return leaves[str(node.value)]  # a var's value is its name, as in variables()
        args = [walk(arg) for arg in node.args]
        try:
            result = _apply(node.kind, args)
        except (ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ExpressionError(f"cannot evaluate {node.text()} at {_at(values)}: {exc}") from None
        if isinstance(result, Value):
            labels.setdefault(id(result), node.text())
        return result

    output = walk(tree)
    if not isinstance(output, Value):  # a formula of numbers only: still one node to draw
        output = Value(float(output))
        labels[id(output)] = tree.text()
    return Built(output, leaves, labels)


def _apply(kind: str, args: list):
    if kind == "neg":
        return -args[0]
    if kind in FUNCTIONS:
        (a,) = args
        if isinstance(a, Value):
            return getattr(a, kind)()
        return _NUMBER_FUNCTIONS[kind](a)
    a, b = args
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "/":
        return a / b
    base = a.data if isinstance(a, Value) else a
    if isinstance(b, Value) and not base > 0:
        raise ValueError("a power with a variable exponent needs a positive base (it is exp(y·log x))")
    exponent = b.data if isinstance(b, Value) else b
    if base < 0 and exponent != int(exponent):
        raise ValueError("a negative base to a fractional power is not a real number")
    return a ** b


_NUMBER_FUNCTIONS = {
    "exp": math.exp,
    "log": math.log,
    "tanh": math.tanh,
    "relu": lambda a: max(a, 0.0),
    "sigmoid": lambda a: 0.5 + 0.5 * math.tanh(0.5 * a),
}


def _at(values: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in values.items())


def parse_assignments(text: str) -> dict[str, float]:
    """``"x=3,y=2"`` -> ``{"x": 3.0, "y": 2.0}``; one-line error for anything else."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, number = part.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ExpressionError(f"--at wants name=number pairs separated by commas (x=3,y=2), got {part!r}")
        if name in FUNCTIONS:
            raise ExpressionError(f"--at {name}: {name} is a function name, not a variable")
        try:
            value = float(number)
        except ValueError:
            raise ExpressionError(f"--at {name}: {number.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise ExpressionError(f"--at {name}: {number.strip()!r} is not a finite number")
        if name in values:
            raise ExpressionError(f"--at gives {name} twice")
        values[name] = value
    return values

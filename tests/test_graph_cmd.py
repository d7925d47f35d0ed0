"""``harness graph``: the safe expression parser, the derivatives it prints, the pictures.

The parser must read what Python reads, the same way (precedence, associativity, unary
minus), evaluate it with ``Value`` to the right value and gradients, and refuse
everything else with one line; the command must print the chapter's self-check answer
(z = 5, ∂z/∂x = 6, ∂z/∂y = −4) and draw through Graphviz, or fall back to DOT text.
"""

from __future__ import annotations

import math
import re
import shutil

import pytest

from harness.cli.main import main
from harness_lessons import dot
from harness_lessons.expression import ExpressionError, build, parse, parse_assignments

needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (.ci/run installs it)")

# Reference values come from Python itself on these trusted strings, evaluated with math's functions.
FORMULAS = [
    "(x+y)*(x-y)",
    "x - y - 1",
    "x / y / 2",
    "-x**2 + y",
    "x ** y ** 0.5",
    "2 ** -x * y",
    "--x * +y",
    "exp(x/4) * log(y) - tanh(x*y) + relu(x - y) + relu(y - x)",
    "sigmoid(x) / (1 + x*y) ** 1.5",
    "x * x * x - 3 * x * y + 2.5e-1",
    "(x + 1) ** (y - 1)",
    "1 / y + .5 * x",
]
MATH = {"exp": math.exp, "log": math.log, "tanh": math.tanh, "relu": lambda a: max(a, 0.0),
        "sigmoid": lambda a: 1 / (1 + math.exp(-a))}


def _python(formula: str, x: float, y: float) -> float:
    return eval(formula, {"__builtins__": {}}, {**MATH, "x": x, "y": y})  # noqa: S307 - the test's own strings


@pytest.mark.parametrize("formula", FORMULAS)
def test_values_and_gradients_match_python_and_central_differences(formula):
    x, y, h = 1.7, 0.6, 1e-6
    built = build(parse(formula), {"x": x, "y": y})
    assert built.output.data == pytest.approx(_python(formula, x, y), rel=1e-12)
    grads = built.gradients()
    assert grads["x"] == pytest.approx((_python(formula, x + h, y) - _python(formula, x - h, y)) / (2 * h), rel=1e-6, abs=1e-9)
    assert grads["y"] == pytest.approx((_python(formula, x, y + h) - _python(formula, x, y - h)) / (2 * h), rel=1e-6, abs=1e-9)
    again = parse(parse(formula).text())  # the printed form reads back as the same tree
    assert again == parse(formula)


def test_a_variable_used_twice_is_one_leaf_and_gets_both_contributions():
    built = build(parse("x * x"), {"x": 3.0})
    assert len(built.leaves) == 1 and built.gradients() == {"x": 6.0}


@pytest.mark.parametrize("text, message", [
    ("x ^ 2", "use ** for powers"),
    ("x +", "ends too early"),
    ("(x + y", "')' is missing"),
    ("x y", "unexpected 'y' at position 3"),
    ("foo(x)", "unknown function 'foo'"),
    ("__import__(x)", "unknown function '__import__'"),
    ("__import__('os')", "unexpected character \"'\""),
    ("x.real", "unexpected character '.'"),
    ("exp", "exp is a function"),
    ("", "empty"),
    ("x; y", "unexpected character ';'"),
    ("x" * 3000, "at most 2000"),
])
def test_anything_else_is_refused_with_one_line(text, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse(text)


@pytest.mark.parametrize("formula, at, message", [
    ("x + y", {"x": 1.0}, "no value for y"),
    ("x", {"x": 1.0, "y": 2.0}, "does not use"),
    ("log(x)", {"x": -1.0}, "cannot evaluate log(x) at x=-1"),
    ("1 / x", {"x": 0.0}, "cannot evaluate 1 / x"),
    ("x ** y", {"x": -2.0, "y": 2.0}, "positive base"),
    ("x ** 0.5", {"x": -4.0}, "not a real number"),
])
def test_evaluation_errors_name_the_subexpression(formula, at, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        build(parse(formula), at)


@pytest.mark.parametrize("text, message", [
    ("x", "name=number"), ("x=abc", "'abc' is not a number"), ("x=1,x=2", "twice"),
    ("x=inf", "finite"), ("exp=1", "function name"), ("2x=1", "name=number"),
])
def test_bad_assignments(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_assignments(text)


def test_assignments_read_numbers_in_any_notation():
    assert parse_assignments("x=3, y=-2.5e-1,") == {"x": 3.0, "y": -0.25}


# ------------------------------------------------------------------ the command


def test_the_chapter_self_check_prints_value_and_partials(tmp_path, capsys):
    out = tmp_path / "g.dot"
    assert main(["graph", "(x+y)*(x-y)", "--at", "x=3,y=2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:4] == ["z = (x + y) * (x - y)", "z = 5", "∂z/∂x = 6", "∂z/∂y = -4"]
    source = out.read_text()
    assert source.startswith("digraph") and "data 5" in source and "grad 6" in source and "grad -4" in source
    assert source.count("->") == 7  # x, y into x+y; y into -y; x, -y into x-y; x+y, x-y into the product
    assert 'label="×"' in source and 'label="× -1"' in source


@needs_graphviz
@pytest.mark.parametrize("suffix, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_graphviz_draws_each_format(tmp_path, capsys, suffix, magic):
    out = tmp_path / f"graph.{suffix}"
    assert main(["graph", "tanh(x) * y", "--at", "x=0.5,y=2", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(magic)
    assert f"graph: {out}" in capsys.readouterr().out
    assert not list(tmp_path.glob(".graph-*"))  # no scratch left behind


def test_without_graphviz_the_dot_text_is_written_with_one_line_saying_how_to_render(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dot.shutil, "which", lambda name: None)
    out = tmp_path / "graph.png"
    assert main(["graph", "x*y", "--at", "x=1,y=2", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not out.exists() and (tmp_path / "graph.dot").read_text().startswith("digraph")
    (note,) = [line for line in lines if "Graphviz" in line]
    assert f"dot -Tpng {tmp_path / 'graph.dot'} -o {out}" in note and "apt-get install graphviz" in note


@pytest.mark.parametrize("argv, message", [
    (["graph", "x", "--at", "x=1", "--out", "g.jpg"], "must end in .svg, .png, .pdf, .dot"),
    (["graph"], "give an expression"),
    (["graph", "x", "y", "--at", "x=1"], "one expression at a time"),
    (["graph", "x ^ 2", "--at", "x=1"], "use \\*\\* for powers"),
])
def test_bad_command_lines_fail_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("harness: error:")
    assert re.search(message, err[0])


def test_model_graph_shows_every_layer_with_shapes(tmp_path, capsys):
    out = tmp_path / "model.dot"
    assert main(["graph", "--model", "--out", str(out)]) == 0
    assert "235,146 parameters" in capsys.readouterr().out  # 784·256+256 + 256·128+128 + 128·10+10
    source = out.read_text()
    for text in ("0.dense", "W 784 × 256", "1.relu", "4.dense", "batch × 128", "loss: softmax_cross_entropy"):
        assert text in source


def test_model_graph_takes_harness_train_overrides_and_draws_residual_shortcuts(tmp_path, capsys):
    out = tmp_path / "model.dot"
    assert main(["graph", "--model", "model=deep_mlp_residual", "engine=autograd", "--out", str(out)]) == 0
    source = out.read_text()
    assert "engine=autograd" in capsys.readouterr().out
    assert source.count("identity shortcut") == 9 and "2.residual/0.dense" in source and "cluster_2.residual" in source


def test_model_graph_refuses_a_bad_override_with_one_line(tmp_path, capsys):
    assert main(["graph", "--model", "optimizer.lr=-1", "modle=mlp", "--out", str(tmp_path / "m.svg")]) == 2
    assert "modle" in capsys.readouterr().err

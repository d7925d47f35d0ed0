"""``harness graph``: draw a computational graph, or a configured model's layer graph.

``harness graph "(x+y)*(x-y)" --at x=3,y=2`` builds the expression with the scalar
engine's ``Value`` (through a parser, never ``eval``), runs the backward pass, prints
the value and every partial derivative, and draws the graph with each node's value and
gradient and each edge's operation. ``harness graph --model [overrides...]`` draws the
model ``harness-train [overrides...]`` would train.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness import HarnessError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="draw the computational graph of an expression (value and gradient on every node), or a model's layers",
        description=(
            "Draw the computational graph of EXPR (numbers, variables, + - * / **, exp, log, tanh, relu, sigmoid) "
            "evaluated at --at, with the value and gradient on each node and the operation on each edge; or, with "
            "--model, the layers of the model harness-train would build from OVERRIDES. Writes SVG, PNG or PDF "
            "through Graphviz's dot, or a .dot file when Graphviz is not installed."
        ),
    )
    parser.add_argument("expression", nargs="?", metavar="EXPR", help='an expression, e.g. "(x+y)*(x-y)"')
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDES", help="with --model: Hydra overrides, as for harness-train")
    parser.add_argument("--at", default="", metavar="x=3,y=2", help="the value of every variable of EXPR")
    parser.add_argument("--model", action="store_true", help="draw the configured model's layers instead of an expression")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="where to write the picture: .svg, .png, .pdf or .dot (default graph.svg, or model.svg with --model)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from harness_lessons import dot

    if args.model:
        overrides = ([args.expression] if args.expression else []) + list(args.overrides)
        source, summary = _model_source(overrides)
        out = Path(args.out or "model.svg")
    else:
        if not args.expression:
            raise HarnessError('give an expression, e.g. harness graph "(x+y)*(x-y)" --at x=3,y=2 (or --model)')
        if args.overrides:
            raise HarnessError(f"one expression at a time (quote it): got extra arguments {' '.join(args.overrides)}")
        source, summary = _expression_source(args.expression, args.at)
        out = Path(args.out or "graph.svg")
    dot.output_format(out)  # a bad suffix fails before any work is shown
    print(summary)
    written, note = dot.render(source, out)
    print(f"graph: {written}")
    if note:
        print(note)
    return 0


def _expression_source(text: str, at: str) -> tuple[str, str]:
    from harness_lessons import dot
    from harness_lessons.expression import build, parse, parse_assignments

    built = build(parse(text), parse_assignments(at))
    gradients = built.gradients()
    lines = [f"z = {parse(text).text()}", f"z = {_show(built.output.data)}"]
    lines += [f"∂z/∂{name} = {_show(grad)}" for name, grad in gradients.items()]
    source, count = dot.value_graph(built.output, built.labels, title=f"z = {parse(text).text()}  at {at}")
    lines.append(f"{count} nodes")
    return source, "\n".join(lines)


def _model_source(overrides: list[str]) -> tuple[str, str]:
    from harness import get_registry
    from harness_lessons import dot
    from harness_lessons.model_graph import compose, describe

    with tempfile.TemporaryDirectory(prefix="harness-graph-") as scratch:
        nodes, title = describe(compose(overrides, Path(scratch)), get_registry())
    return dot.layer_graph(nodes, title), title


def _show(x: float) -> str:
    """A number as people write it: ``5``, ``-4``, ``0.7616``."""
    return f"{x:.6g}"

"""Graphviz DOT for computational graphs, and rendering it with ``dot`` when installed.

Two pictures are drawn: a :class:`Value` expression graph (one box per node with its
value and gradient, the operation on each edge, as micrograd draws them) and a model's
layer graph (one box per layer with its parameter shapes, the activation shape on each
edge). Both are plain DOT text; :func:`render` turns it into SVG, PNG or PDF with
Graphviz's ``dot`` program, or, when Graphviz is not installed, writes the ``.dot`` file
and says how to render it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harness import HarnessError
from harness_autograd.value import Value

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = "apt-get install graphviz"


def _escape(text: str) -> str:
    """Text for a DOT record label: the record syntax characters escaped."""
    out = str(text).replace("\\", "\\\\")
    for ch in '"{}|<>':
        out = out.replace(ch, "\\" + ch)
    return out


def _number(x: float) -> str:
    return f"{x:.4g}"


# -------------------------------------------------------------- Value graphs

_EDGE_SYMBOL = {"+": "+", "*": "×", "exp": "exp", "log": "log", "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}


def edge_label(node: Value) -> str:
    """The operation that made ``node``, as written on the edges into it (``× -1``, ``** 2``)."""
    op = node._op
    if op == "+k":
        return f"+ {_number(node._b)}"
    if op == "*k":
        return f"× {_number(node._b)}"
    if op == "**k":
        return f"** {_number(node._b)}"
    return _EDGE_SYMBOL.get(op, op)


def value_graph(output: Value, labels: Mapping[int, str] | None = None, title: str = "") -> tuple[str, int]:
    """``(DOT source, node count)`` of everything ``output`` depends on.

    Each node shows what it computes (``labels[id(node)]``, else its operation), its
    value (``data``) and the gradient of ``output`` with respect to it (``grad``: call
    ``output.backward()`` first). Leaves are shaded, the output is drawn bold.
    """
    labels = labels or {}
    order = output.topological_order()
    ids = {id(node): f"n{i}" for i, node in enumerate(order)}
    lines = ["digraph computational_graph {", "  rankdir=LR;",
             '  node [shape=record, fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10, color="#555555"];']
    if title:
        lines.append(f'  labelloc=t; label="{_escape(title)}"; fontname="Helvetica";')
    names: dict[int, str] = {}
    for node in order:  # operands come first, so a node without a label is named from theirs
        name = names[id(node)] = labels.get(id(node)) or _derived_name(node, names)
        style = ""
        if not node._op:
            style = ', style=filled, fillcolor="#dbe9f6"'
        if node is output:
            style = ', style="filled,bold", fillcolor="#fde9c9", penwidth=2'
        # Fields separated by | stack top to bottom in a left-to-right graph: narrow boxes.
        lines.append(f'  {ids[id(node)]} [label="{_escape(name)}|data {_escape(_number(node.data))}|'
                     f'grad {_escape(_number(node.grad))}"{style}];')
    for node in order:
        if not node._op:
            continue
        label = _escape(edge_label(node))
        for operand in (node._a, node._b):
            if isinstance(operand, Value):
                lines.append(f'  {ids[id(operand)]} -> {ids[id(node)]} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n", len(order)


def _derived_name(node: Value, names: dict[int, str]) -> str:
    """What an unlabelled node computes, from its operands' names: ``-y`` for ``y × -1``."""
    if not node._op:
        return "leaf"
    a = names.get(id(node._a), "?")
    a = a if len(a) <= 24 and (" " not in a or node._op in FUNCTION_OPS) else f"({a})" if len(a) <= 24 else "…"
    op, k = node._op, node._b
    if op == "*k" and k == -1:
        return f"-{a}"
    if op == "**k" and k == -1:
        return f"1 / {a}"
    if op in ("+k", "*k", "**k"):
        return f"{a} {edge_label(node)}"
    if op in FUNCTION_OPS:
        return f"{op}({a})"
    b = names.get(id(node._b), "?")
    b = b if len(b) <= 24 and " " not in b else f"({b})" if len(b) <= 24 else "…"
    return f"{a} {edge_label(node)} {b}"


FUNCTION_OPS = ("exp", "log", "relu", "tanh", "sigmoid")


# -------------------------------------------------------------- layer graphs


def layer_graph(nodes: list[dict], title: str = "") -> str:
    """DOT for a model drawn as layers: ``nodes`` from :func:`harness_lessons.model_graph.describe`.

    Each entry: ``id``, ``title``, ``lines`` (details), ``inputs`` (``[(source id, edge
    label)]``), optional ``cluster`` (the block it sits in) and ``kind`` (input, layer,
    add, loss) for its style.
    """
    styles = {"input": ', style=filled, fillcolor="#dbe9f6"', "loss": ', style=filled, fillcolor="#fde9c9"',
              "add": ', shape=circle, label="+", width=0.4'}
    lines = ["digraph layers {", "  rankdir=TB;", '  node [shape=record, fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10, color="#555555"];']
    if title:
        lines.append(f'  labelloc=t; label="{_escape(title)}"; fontname="Helvetica";')
    clusters: dict[str, list[dict]] = {}
    for node in nodes:
        clusters.setdefault(node.get("cluster") or "", []).append(node)
    for cluster, members in clusters.items():
        indent = "  "
        if cluster:
            lines += [f'  subgraph "cluster_{_escape(cluster)}" {{', f'    label="{_escape(cluster)}"; style=dashed; color="#888888";']
            indent = "    "
        for node in members:
            style = styles.get(node.get("kind", "layer"), "")
            if node.get("kind") == "add":
                lines.append(f'{indent}{node["id"]} [{style.lstrip(", ")}];')
                continue
            body = "|".join(_escape(line) for line in [node["title"], *node.get("lines", [])])
            lines.append(f'{indent}{node["id"]} [label="{{{body}}}"{style}];')
        if cluster:
            lines.append("  }")
    for node in nodes:
        for source, label in node.get("inputs", []):
            lines.append(f'  {source} -> {node["id"]} [label="{_escape(label)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ rendering


def output_format(path: Path) -> str:
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise HarnessError(f"--out {path}: the file name must end in .{', .'.join(FORMATS)}")
    return fmt


def render(source: str, out: Path, dot_program: str | None = None) -> tuple[Path, str | None]:
    """Write ``source`` as ``out`` (its suffix picks the format); ``(file written, note)``.

    Without Graphviz's ``dot`` (or with a ``.dot`` target) the DOT text itself is written,
    to ``out`` with the suffix ``.dot``, and the note says how to render it. Files are
    written whole or not at all.
    """
    from harness import atomic_write

    fmt = output_format(out)
    program = dot_program if dot_program is not None else shutil.which("dot")
    if fmt == "dot" or not program:
        target = out.with_suffix(".dot")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, source.encode())
        if fmt == "dot":
            return target, None
        note = (f"Graphviz's dot is not installed, so the graph is DOT text in {target}; "
                f"render it with `dot -T{fmt} {target} -o {out}` after `{INSTALL_HINT}`")
        return target, note
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".graph-") as scratch:
        drawn = Path(scratch) / f"graph.{fmt}"
        try:
            done = subprocess.run([program, f"-T{fmt}", "-o", str(drawn)], input=source, text=True,
                                  capture_output=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HarnessError(f"could not run Graphviz's dot ({program}): {exc}") from None
        if done.returncode != 0 or not drawn.is_file():
            first = (done.stderr.strip().splitlines() or ["no output"])[0]
            raise HarnessError(f"Graphviz's dot failed (exit {done.returncode}): {first}")
        atomic_write(out, drawn.read_bytes())
    return out, None

"""Figures the docs quote, checked against the result files they come from.

A number in a page followed by ``<!-- result FILE PATH -->`` (invisible once rendered)
must equal the value at PATH in ``benchmarks/results/FILE``, rounded as the page shows it
(a fraction may be shown as a percentage). PATH is ``/``-separated: a key, a list index,
or ``field=value`` to pick the element of a list whose ``field`` is ``value``. Tables
generated from a result file (the vanishing grid) are compared whole.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = re.compile(r"<!-- result (\S+) ([^>]*?) -->")
NUMBER = re.compile(r"(-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?)[^\d<]*$")


def lookup(data, path: str):
    for part in path.split("/"):
        if isinstance(data, list):
            if "=" in part:
                field, value = part.split("=", 1)
                matches = [item for item in data if str(item.get(field)) == value]
                assert len(matches) == 1, f"{path}: {len(matches)} elements with {field}={value!r}"
                data = matches[0]
            else:
                data = data[int(part)]
        else:
            data = data[part]
    return data


def matches(shown: str, value: float) -> bool:
    """``shown`` is ``value`` rounded as written (or ``100 * value``, a percentage)."""
    text = shown.replace(",", "")
    number = float(text)
    if "e" in text:
        mantissa = text.split("e")[0]
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return float(f"{value:.{digits}e}") == number
    decimals = len(text.split(".")[1]) if "." in text else 0
    return any(math.isclose(round(v, decimals), number, abs_tol=10 ** -(decimals + 6)) for v in (value, 100 * value))


def references(page: Path) -> list[tuple[str, str, str, int]]:
    """``(shown number, file, path, line)`` for every result reference in ``page``."""
    text = page.read_text()
    found = []
    for m in REFERENCE.finditer(text):
        if text[m.start() - 1: m.start()] == "`":  # the grammar quoted as code, not a reference
            continue
        before = text[max(0, m.start() - 40): m.start()].replace("*", "")
        number = NUMBER.search(before)
        assert number, f"{page.name}:{text.count(chr(10), 0, m.start()) + 1}: no number before {m.group(0)}"
        found.append((number.group(1), m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1))
    return found


def check_page(page: Path) -> int:
    count = 0
    for shown, name, path, line in references(page):
        value = lookup(json.loads((RESULTS / name).read_text()), path)
        assert matches(shown, float(value)), f"{page.name}:{line}: shows {shown}, {name} {path} is {value}"
        count += 1
    return count


REMEDIES = ("none", "batch_norm", "residual", "clipping")


def vanishing_table(name: str = "vanishing.json") -> str:
    """The vanishing sweep's grid as Markdown: test accuracy and the first/last weight
    gradient ratio at initialisation, per activation × initialisation and remedy."""
    runs = json.loads((RESULTS / name).read_text())["runs"]
    cells = {}
    for run in runs:
        keys = dict(part.split("=", 1) for part in run["name"].split())
        cells[keys["deep.activation"], keys["deep.init"], keys["remedy"]] = run
    lines = ["| activation, init | " + " | ".join(f"`{r}`" for r in REMEDIES) + " |", "|---|" + "---|" * len(REMEDIES)]
    for activation in ("sigmoid", "tanh", "relu"):
        for init in ("normal", "xavier", "he"):
            row = []
            for remedy in REMEDIES:
                run = cells[activation, init, remedy]
                accuracy = "diverged" if run["diverged"] is not None else f"{100 * run['metrics']['test_accuracy']:.1f} %"
                row.append(f"{accuracy} ({run['grad_norm_ratio']:.0e})")
            lines.append(f"| {activation}, {init} | " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(vanishing_table())

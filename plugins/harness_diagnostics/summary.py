"""The vanishing-gradient sweep at a glance, from the runs' own diagnostics records.

Each run is placed by what its config says, not by its name, so hand-made runs line up
with swept ones: the **activation** (the first activation layer's type), the
**initialisation** (the first dense layer's ``init``, with its ``init_scale`` when set)
and the **remedy** (batch norm and residual blocks found among the layers, clipping when
``optimizer.clip_norm`` or ``clip_value`` is set; ``none`` otherwise). From the
diagnostics metrics it takes ``grad_norm_ratio`` and ``input_grad_ratio`` at step 0 (at
initialisation) and, for one configuration, the norm of the gradient arriving at each
layer's input (all read from ``diagnostics/records.json`` in the run's folder); from the
run's summary, its test accuracy.

:func:`draw` makes one figure of four panels: the two ratios at initialisation (weight
gradients, and gradients arriving at the first and last layer: see
:mod:`harness_diagnostics.probe` for why both) for every activation × initialisation
(rows) and remedy (columns) on a log colour scale, the test accuracy in the same grid
("diverged" for runs whose loss went non-finite), and the input-gradient profile of the
worst plain configuration with each remedy applied.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import RunRecord
from harness_diagnostics.plots import log_axis
from harness_diagnostics.probe import INPUT_GRAD, INPUT_RATIO, RATIO

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
REMEDY_ORDER = ("none", "batch_norm", "residual", "clipping")
WEIGHTED_KINDS = ("dense", "residual")
# clipping dashed: it lies exactly on "none" (it rescales gradients once they are computed)
PROFILE_STYLES = {"none": "-o", "batch_norm": "-s", "residual": "-^", "clipping": "--x"}
SUMMARY_FILE = "diagnostics_summary.png"
RECORDS_FILE = "records.json"
LAYER_TYPE = re.compile(r"^model\.layers\.(\d+)(?:\.layers\.(\d+))?\.type$")


@dataclass
class Row:
    """One run of the sweep, placed in the grid."""

    run_id: str
    name: str
    status: str
    activation: str
    init: str
    remedy: str
    start_time: int
    ratio: float = math.nan           # grad_norm_ratio at step 0
    input_ratio: float = math.nan     # input_grad_ratio at step 0
    accuracy: float = math.nan        # test accuracy (best validation accuracy if it never got tested)
    profile: dict[str, float] = field(default_factory=dict)  # input_grad_norm/<layer> at step 0, when plotted
    step0: dict[str, float] = field(default_factory=dict)    # the same, for every run

    @property
    def config(self) -> tuple[str, str, str]:
        return self.activation, self.init, self.remedy


def describe(params: dict[str, str]) -> tuple[str, str, str]:
    """``(activation, init, remedy)`` of a run from its flattened config params."""
    positioned: list[tuple[tuple[int, int], str]] = []
    for key, value in params.items():
        match = LAYER_TYPE.match(key)
        if match:
            outer, inner = int(match.group(1)), int(match.group(2)) if match.group(2) else -1
            positioned.append(((outer, inner), value))
    types = [t for _, t in sorted(positioned)]
    activation = next((t for t in types if t in ACTIVATIONS), "linear")
    init = params.get("model.layers.0.init", "?")
    scale = params.get("model.layers.0.init_scale", "None")
    if scale not in ("None", "null", ""):
        init = f"{init}×{scale}"
    remedies: list[str] = [r for r in ("batch_norm", "residual") if r in types]
    if any(params.get(f"optimizer.{k}", "None") not in ("None", "null", "") for k in ("clip_norm", "clip_value")):
        remedies.append("clipping")
    return activation, init, "+".join(remedies) or "none"


def collect(runs: list[RunRecord]) -> list[Row]:
    """One row per configuration (the latest run of it), from runs with diagnostics records."""
    latest: dict[tuple[str, str, str], Row] = {}
    for order, run in enumerate(runs):
        records = _records(run)
        if not records or RATIO not in records[0]:
            continue  # not a run with diagnostics
        first = records[0] if records[0].get("step") == 0 else {}
        row = Row(run.run_id or run.name, run.name, run.outcome, *describe(dict(run.params)), start_time=order)
        row.accuracy = run.summary.get("test_accuracy", run.summary.get("best_val_accuracy", math.nan))
        row.ratio = float(first.get(RATIO, math.nan))
        row.input_ratio = float(first.get(INPUT_RATIO, math.nan))
        row.step0 = {k[len(INPUT_GRAD) + 1:]: float(v) for k, v in first.items() if k.startswith(INPUT_GRAD + "/")}
        latest[row.config] = row
    return sorted(latest.values(), key=lambda r: r.config)


def _records(run: RunRecord) -> list[dict[str, float]]:
    path = run.dir / "diagnostics" / RECORDS_FILE if run.dir else None
    if path is None or not path.is_file():
        return []
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return []


def choose_profiles(rows: list[Row]) -> tuple[str, str] | None:
    """The worst plain configuration, whose input-gradient profile :func:`draw` plots with each remedy."""
    plain = [r for r in rows if r.remedy == "none" and math.isfinite(r.ratio)]
    if not plain:
        return None
    worst = min(plain, key=lambda r: r.ratio)
    chosen = (worst.activation, worst.init)
    for row in rows:
        if (row.activation, row.init) == chosen:
            row.profile = dict(row.step0)
    return chosen


def table(rows: list[Row]) -> str:
    """A plain-text table, one line per run."""
    head = f"{'activation':<11} {'init':<12} {'remedy':<22} {'W ratio@0':>10} {'in ratio@0':>10} {'accuracy':>9}  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        accuracy = f"{100 * r.accuracy:8.2f}%" if math.isfinite(r.accuracy) else f"{'-':>9}"
        lines.append(f"{r.activation:<11} {r.init:<12} {r.remedy:<22} {r.ratio:10.2e} {r.input_ratio:10.2e} {accuracy}  {r.status}")
    return "\n".join(lines)


def draw(rows: list[Row], chosen: tuple[str, str] | None, path: Path, title: str = "") -> Path:
    """The summary figure (see the module docstring) as a PNG."""
    fig = summary_figure(rows, chosen, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def summary_figure(rows: list[Row], chosen: tuple[str, str] | None, title: str = ""):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    configs = sorted({(r.activation, r.init) for r in rows})
    remedies = [m for m in REMEDY_ORDER if any(r.remedy == m for r in rows)]
    remedies += sorted({r.remedy for r in rows} - set(remedies))
    cell = {(r.activation, r.init, r.remedy): r for r in rows}

    def grid(value) -> np.ndarray:
        out = np.full((len(configs), len(remedies)), np.nan)
        for i, (act, init) in enumerate(configs):
            for j, remedy in enumerate(remedies):
                row = cell.get((act, init, remedy))
                if row is not None:
                    out[i, j] = value(row)
        return out

    # Constrained layout keeps every label, colour bar and title inside the figure and apart.
    fig = Figure(figsize=(17, max(9.0, 0.55 * len(configs) + 6)), layout="constrained")
    axes = fig.subplots(2, 2)
    (weight_ax, input_ax), (acc_ax, profile_ax) = axes
    labels = [f"{act} / {init}" for act, init in configs]
    # The colour bar's label stays short (it runs along the bar); what the colours mean is
    # the panel title's second line.
    meaning = "log10 of the ratio: 0 balanced, red vanishing towards the input, blue growing"
    for ax, attribute, heading in (
        (weight_ax, "ratio", "first / last weight matrix: gradient norm at initialisation"),
        (input_ax, "input_ratio", "gradient arriving at the first / at the last layer, at initialisation"),
    ):
        logs = grid(lambda r, attribute=attribute: math.log10(getattr(r, attribute)) if 0 < getattr(r, attribute) < math.inf else math.nan)
        span = max(3.0, float(np.nanmax(np.abs(logs)))) if np.isfinite(logs).any() else 3.0
        image = ax.imshow(logs, cmap="RdBu", vmin=-span, vmax=span, aspect="auto")
        fig.colorbar(image, ax=ax, label="log10 ratio")
        heading = f"{heading}\n{meaning}"
        for (i, j), value in np.ndenumerate(logs):
            text = f"1e{int(round(value))}" if np.isfinite(value) else "–"
            dark = np.isfinite(value) and abs(value) > 0.6 * span
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        ax.set_title(heading, fontsize=10)

    accuracy = grid(lambda r: 100 * r.accuracy if r.status == "FINISHED" else math.nan)
    image = acc_ax.imshow(accuracy, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    fig.colorbar(image, ax=acc_ax, label="test accuracy (%)")
    for (i, j), value in np.ndenumerate(accuracy):
        row = cell.get((*configs[i], remedies[j]))
        text = f"{value:.1f}" if np.isfinite(value) else ("diverged" if row is not None and row.status in ("FAILED", "diverged") else "–")
        acc_ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if value <= 60 else "black")  # NaN cells stay blank: black text
    acc_ax.set_title("test accuracy after the short training (%)", fontsize=10)
    for ax in (weight_ax, input_ax, acc_ax):
        ax.set_xticks(range(len(remedies)), remedies)
        ax.set_yticks(range(len(configs)), labels)

    if chosen is not None:
        for remedy in remedies:
            row = cell.get((*chosen, remedy))
            if row is None or not row.profile:
                continue
            layers = sorted(row.profile, key=_layer_index)
            weighted = [layer for layer in layers if layer.split(".", 1)[-1] in WEIGHTED_KINDS]
            layers = weighted or layers  # one point per weighted layer: models of different depth line up
            values = np.asarray([row.profile[layer] for layer in layers], dtype=float)
            values = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            style = PROFILE_STYLES.get(remedy, "-o")
            profile_ax.plot(range(len(layers)), values, style, ms=4, lw=1.5, label=remedy)
        log_axis(profile_ax)
        profile_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        profile_ax.set(xlabel="dense layer or residual block (input on the left)", ylabel="‖∂L/∂(layer input)‖")
        profile_ax.set_title(f"gradient arriving at each layer at initialisation: {chosen[0]} / {chosen[1]}, by remedy", fontsize=10)
        profile_ax.grid(alpha=0.3, which="both")
        profile_ax.legend(fontsize=8)
    else:
        profile_ax.set_axis_off()
    fig.suptitle(f"{title}: vanishing and exploding gradients, {len(rows)} runs (rows: activation / initialisation)".strip(": "))
    return fig


def _layer_index(name: str) -> int:
    head = name.split(".", 1)[0]
    return int(head) if head.isdigit() else 10**9


def summarize_records(runs: list[RunRecord], out: Path, title: str = "") -> tuple[Path, list[Row]]:
    """Collect, draw and return ``(png, rows)``; ``LookupError`` when no run has diagnostics."""
    rows = collect(runs)
    if not rows:
        raise LookupError("none of the runs has diagnostics records (diagnostics/records.json in its folder)")
    chosen = choose_profiles(rows)
    return draw(rows, chosen, out, title=title), rows

"""The two pictures of gradient flow, drawn with matplotlib's object API (no pyplot state).

* :func:`gradient_norms`: every weight matrix's gradient norm over training on a log
  scale, the norm of the gradient arriving at each weighted layer's input, and the
  update-to-weight ratio — a vanishing network shows a fan of lines many decades apart.
* :func:`layer_profile`: the same numbers and the activation statistics layer by layer
  at chosen steps (the first and the last recorded, by default), input on the left.

Each function writes one PNG and returns its path; none needs a display.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator

from harness_diagnostics.probe import ACT_MEAN, ACT_STD, DEAD, GRAD, INPUT_GRAD, SATURATED, UPDATE

DPI = 110
HEALTHY_UPDATE = 1e-3  # the rule-of-thumb update-to-weight ratio, drawn as a reference line


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def log_axis(ax) -> None:
    """A log y axis labelled in plain text (``1e-16``, ``0.2``): the default mathtext labels
    cost most of the drawing time. Minor ticks get labels when the axis spans little."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.6)))


def _positive(values) -> np.ndarray:
    """Values for a log axis: zero, negative or non-finite entries become gaps."""
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array) & (array > 0), array, np.nan)


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    steps = [r["step"] for r in records if key in r]
    return np.asarray(steps), _positive([r[key] for r in records if key in r])


def weighted_layers(weights: list[str], layer_names: list[str]) -> list[str]:
    """The top-level layers that own a weight matrix (``3.residual`` for ``3.residual.0.dense.W``)."""
    owners = []
    for layer in layer_names:
        if any(w.startswith(layer + ".") for w in weights) and layer not in owners:
            owners.append(layer)
    return owners


def gradient_norms(records: list[dict], weights: list[str], layer_names: list[str], path: Path, title: str = "") -> Path:
    """Per-layer gradient norms and update ratios against the training step, log scale."""
    fig = Figure(figsize=(17, 4.8))
    grad_ax, input_ax, update_ax = fig.subplots(1, 3)
    fig.subplots_adjust(left=0.05, right=0.9, bottom=0.12, top=0.85, wspace=0.22)
    colours = colormaps["viridis"]
    owners = weighted_layers(weights, layer_names)
    for i, weight in enumerate(weights):
        colour = colours(i / max(len(weights) - 1, 1))
        grad_ax.plot(*_series(records, f"{GRAD}/{weight}"), color=colour, marker=".", ms=3, label=weight)
        update_ax.plot(*_series(records, f"{UPDATE}/{weight}"), color=colour, marker=".", ms=3)
    for i, layer in enumerate(owners):
        colour = colours(i / max(len(owners) - 1, 1))
        input_ax.plot(*_series(records, f"{INPUT_GRAD}/{layer}"), color=colour, marker=".", ms=3, label=layer)
    update_ax.axhline(HEALTHY_UPDATE, color="grey", ls="--", lw=1, label="1e-3 rule of thumb")
    titles = (
        (grad_ax, "weight-gradient norm ‖∂L/∂W‖ per layer"),
        (input_ax, "gradient norm arriving at each layer's input"),
        (update_ax, "update-to-weight ratio ‖ΔW‖/‖W‖"),
    )
    for ax, text in titles:
        ax.set(xlabel="step", title=text)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # optimizer steps: no tick at 2.5
        log_axis(ax)
        ax.grid(alpha=0.3, which="both")
    if not any(f"{UPDATE}/{w}" in r for r in records for w in weights):
        update_ax.text(0.5, 0.6, "no update ratio recorded\n(the first comes with the first interval after step 0)",
                       transform=update_ax.transAxes, ha="center", fontsize=8, color="grey")
    elif any(not np.isfinite(_series(records, f"{UPDATE}/{w}")[1]).all() for w in weights):
        update_ax.text(0.01, 0.01, "gaps: no change at all (below the dtype's resolution)",
                       transform=update_ax.transAxes, fontsize=7, color="grey")
    update_ax.legend(fontsize=7, loc="upper right")
    fig.legend(*grad_ax.get_legend_handles_labels(), loc="center left", bbox_to_anchor=(0.905, 0.5), fontsize=7,
               title="input → output", title_fontsize=7)
    fig.suptitle(f"{title}  gradient flow on the probe batch".strip())
    return _save(fig, path)


def profile_steps(records: list[dict], chosen: int | None) -> list[int]:
    """The recorded steps a profile shows: the one nearest ``chosen``, or the first and last."""
    steps = [int(r["step"]) for r in records]
    if chosen is not None:
        return [min(steps, key=lambda s: (abs(s - chosen), s))]
    return sorted({steps[0], steps[-1]})


def layer_profile(records: list[dict], weights: list[str], layer_names: list[str], path: Path,
                  steps: list[int], title: str = "") -> Path:
    """Layer-by-layer gradient norms, activation statistics and update ratios at ``steps``."""
    by_step = {int(r["step"]): r for r in records}
    fig = Figure(figsize=(16, 11))
    grid = fig.add_gridspec(4, 2, width_ratios=[1, 1.7], left=0.06, right=0.98, top=0.92, bottom=0.1, wspace=0.12, hspace=0.3)
    grad_ax = fig.add_subplot(grid[0:2, 0])
    update_ax = fig.add_subplot(grid[2:4, 0], sharex=grad_ax)
    input_ax = fig.add_subplot(grid[0, 1])
    std_ax, mean_ax, frac_ax = (fig.add_subplot(grid[row, 1], sharex=input_ax) for row in (1, 2, 3))
    axes = (grad_ax, update_ax, input_ax, std_ax, mean_ax, frac_ax)
    layer_x, weight_x = np.arange(len(layer_names)), np.arange(len(weights))
    styles = ["-o", "--s", ":^", "-.v"]
    for n, step in enumerate(steps):
        record, style = by_step[step], styles[n % len(styles)]
        label = f"step {step}"

        def column(prefix: str, names: list[str], record: dict = record) -> np.ndarray:
            return np.asarray([record.get(f"{prefix}/{name}", math.nan) for name in names], dtype=float)

        grad_ax.plot(weight_x, _positive(column(GRAD, weights)), style, ms=4, label=label)
        update_ax.plot(weight_x, _positive(column(UPDATE, weights)), style, ms=4, label=label)
        input_ax.plot(layer_x, _positive(column(INPUT_GRAD, layer_names)), style, ms=4, label=label)
        std_ax.plot(layer_x, _positive(column(ACT_STD, layer_names)), style, ms=4, label=label)
        mean_ax.plot(layer_x, column(ACT_MEAN, layer_names), style, ms=4, label=label)
        dead, saturated = column(DEAD, layer_names), column(SATURATED, layer_names)
        if np.isfinite(dead).any():
            frac_ax.plot(layer_x, dead, style, ms=4, label=f"dead ReLU, {label}")
        if np.isfinite(saturated).any():
            frac_ax.plot(layer_x, saturated, style, ms=4, label=f"saturated, {label}")
    update_ax.axhline(HEALTHY_UPDATE, color="grey", ls="--", lw=1)
    if not any(f"{UPDATE}/{w}" in by_step[step] for step in steps for w in weights):
        update_ax.text(0.5, 0.6, "no update ratio at these steps\n(step 0 and the last step of a failed run have none)",
                       transform=update_ax.transAxes, ha="center", fontsize=8, color="grey")
    for ax in (grad_ax, update_ax, input_ax, std_ax):
        log_axis(ax)
    update_ax.set_xticks(weight_x, [w.rsplit(".", 1)[0] for w in weights], rotation=90, fontsize=7)
    frac_ax.set_xticks(layer_x, layer_names, rotation=90, fontsize=7)
    for ax in (grad_ax, input_ax, std_ax, mean_ax):  # shared x axes: labels on the bottom panel only
        ax.tick_params(labelbottom=False)
    frac_ax.set_ylim(-0.03, 1.03)
    grad_ax.set_title("weight-gradient norm ‖∂L/∂W‖")
    update_ax.set_title("update-to-weight ratio ‖ΔW‖/‖W‖ (dashed: 1e-3)")
    input_ax.set_title("gradient norm arriving at the layer's input", fontsize=10)
    std_ax.set_title("standard deviation of the layer's output", fontsize=10)
    mean_ax.set_title("mean of the layer's output", fontsize=10)
    frac_ax.set_title("fraction of dead ReLUs / saturated sigmoid·tanh units", fontsize=10)
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}  layer profile (input on the left)".strip())
    return _save(fig, path)

"""Matplotlib figures for runs and sweeps, drawn with the object API (no pyplot state).

Each function writes one PNG and returns its path; none needs a display.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    """Every figure here lays itself out (``layout="constrained"``, legends ``outside``), so
    nothing is cut off without ``bbox_inches="tight"``, which drew each figure twice: a
    run's three plots take 0.81x the time without it (median of 7 rounds, 0.91 s
    against 1.04 s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def epoch_axis(ax) -> None:
    """Epochs are whole numbers: no tick at 1.5."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def loss_axis(ax, values) -> None:
    """Log scale when the losses span more than a decade, labelled in plain numbers
    (``0.2``, ``1``) rather than matplotlib's default ``2×10⁻¹``; linear otherwise, where
    a log axis would only crowd the labels. Up to two decades the labels go 1, 2, 5 in
    each (a span from 0.15 to 2 would otherwise show the one label ``1``); beyond, the
    powers of ten."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if len(positive) == len(values) and positive and max(positive) / min(positive) > 10:
        ax.set_yscale("log")
        subs = (1.0, 2.0, 5.0) if max(positive) / min(positive) <= 100 else (1.0,)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


EPOCH, SECONDS = "_epoch", "_train_seconds"  # where a point sits on each panel's axis


def _points(history: list[dict[str, float]], metric: str) -> list[dict[str, float]]:
    """The epochs of ``history`` that recorded ``metric`` (every ``training.val_every``-th
    for validation metrics), each with its epoch number and the training seconds
    elapsed by its end (when every epoch up to it timed itself)."""
    points, elapsed = [], 0.0
    for i, h in enumerate(history):
        elapsed = elapsed + h["epoch_seconds"] if "epoch_seconds" in h else math.nan
        if metric in h:
            point = {**h, EPOCH: i + 1}
            if math.isfinite(elapsed):
                point[SECONDS] = elapsed
            points.append(point)
    return points


def learning_curves(history: list[dict[str, float]], path: Path, title: str = "") -> Path:
    """Train and validation loss (left) and accuracy (right) per epoch, as a PNG."""
    return _save(learning_curves_figure(history, title), path)


def learning_curves_figure(history: list[dict[str, float]], title: str = "") -> Figure:
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "-"), ("val", "--")):  # val: the validated epochs (training.val_every)
        points = _points(history, f"{split}_loss")
        epochs = [h[EPOCH] for h in points]
        loss_ax.plot(epochs, [h[f"{split}_loss"] for h in points], style, marker="o", ms=3, label=split)
        acc_ax.plot(epochs, [h[f"{split}_accuracy"] for h in points], style, marker="o", ms=3, label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_axis(loss_ax, [h[key] for h in history for key in ("train_loss", "val_loss") if key in h])
    acc_ax.set(xlabel="epoch", ylabel="accuracy (fraction correct)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        epoch_axis(ax)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int, path: Path, title: str = "") -> Path:
    """Counts of (true class, predicted class) on the test set, with the counts written in."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    for (i, j), n in np.ndenumerate(counts):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                    color="white" if counts[i, j] > counts.max() / 3 else "black")
    ax.set(xticks=range(num_classes), yticks=range(num_classes), xlabel="predicted", ylabel="true")
    accuracy = 100 * np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title}  test accuracy {accuracy:.2f}%".strip())
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    return _save(fig, path)


GRID_GAP, GRID_CAPTION = 6, 12  # pixels between images, and above each for its caption


def misclassified_grid(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, path: Path,
                       count: int = 36, side: int = 28) -> Path | None:
    """:func:`misclassified_figure` as a PNG; ``None`` (nothing written) if none is wrong."""
    fig = misclassified_figure(images, labels, predictions, count, side)
    return None if fig is None else _save(fig, path)


def misclassified_figure(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                         count: int = 36, side: int = 28) -> Figure | None:
    """The first ``count`` misclassified test images, captioned ``true → predicted``.

    Drawn as one mosaic in one axes, each image scaled to its own range: a grid of
    ``count`` separate axes took ~2.5 s to lay out and save (0.2–0.4 s now), longer
    than many runs train.
    """
    every_wrong = np.flatnonzero(labels != predictions)
    wrong = every_wrong[:count]
    if len(wrong) == 0:
        return None
    cols = min(9, len(wrong))
    rows = math.ceil(len(wrong) / cols)
    cell_w, cell_h = side + GRID_GAP, side + GRID_CAPTION  # in pixels of the images
    mosaic = np.full((rows * cell_h, cols * cell_w), np.nan)
    fig = Figure(figsize=(max(1.2 * cols, 6.0), 1.35 * rows + 0.4), layout="constrained")
    ax = fig.subplots()
    for k, index in enumerate(wrong):
        row, col = divmod(k, cols)
        top, left = row * cell_h + GRID_CAPTION, col * cell_w + GRID_GAP // 2
        mosaic[top:top + side, left:left + side] = _unit_range(images[index].reshape(side, side))
        ax.text(left + side / 2, top - 1, f"{labels[index]} → {predictions[index]}", ha="center", va="bottom",
                fontsize=9, color="crimson")
    ax.imshow(mosaic, cmap=colormaps["gray_r"].with_extremes(bad="white"), vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(f"misclassified test images (true → predicted), {len(every_wrong)} in all")
    return fig


def _unit_range(image: np.ndarray) -> np.ndarray:
    """``image`` scaled to [0, 1] by its own minimum and maximum (as ``imshow`` scales one image)."""
    low, high = float(np.min(image)), float(np.max(image))
    return (image - low) / (high - low) if high > low else np.zeros_like(image, dtype=float)


# Coinciding curves (runs that share their first epochs) stay visible: each run gets its
# own line style and marker, and the longer histories are drawn underneath the shorter.
STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


# A sweep of hundreds of runs stays readable: the best TOP runs by the compared metric are
# drawn as above, named in the legend; the others as thin grey lines behind them, one
# legend entry for all (their names and numbers are in comparison.csv).
TOP = 10


def compare_curves(runs: list[tuple[str, list[dict[str, float]]]], path: Path, metric: str = "val_accuracy",
                   title: str = "", top: int = TOP) -> Path:
    """:func:`comparison_figure` as a PNG."""
    return _save(comparison_figure(runs, metric, title, top), path)


def higher_is_better(metric: str) -> bool:
    return "accuracy" in metric


def best_value(points: list[dict[str, float]], metric: str) -> float:
    values = [h[metric] for h in points if math.isfinite(h[metric])]
    if not values:
        return -math.inf
    return max(values) if higher_is_better(metric) else -min(values)


def comparison_figure(runs: list[tuple[str, list[dict[str, float]]]], metric: str = "val_accuracy",
                      title: str = "", top: int = TOP) -> Figure:
    """One curve per run: ``metric`` per epoch (left) and against training time (right).

    The second panel is what compares runs trained for the same wall time rather than
    the same number of epochs (full-batch vs stochastic gradient descent). Values are
    plotted as recorded (accuracies are fractions, as in the tables and in MLflow); one
    legend below both panels names the runs of both. With more than ``top`` runs, the
    ``top`` best by their best value of ``metric`` are drawn and named, the others drawn
    thin and grey, under one legend entry.
    """
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    by_epoch, by_time = fig.subplots(1, 2)
    drawn = [(name, _points(history, metric)) for name, history in runs]
    drawn = [(name, points) for name, points in drawn if points]
    others: list[tuple[str, list[dict[str, float]]]] = []
    if len(drawn) > top:
        ranked = sorted(range(len(drawn)), key=lambda i: -best_value(drawn[i][1], metric))
        chosen = set(ranked[:top])
        others = [run for i, run in enumerate(drawn) if i not in chosen]
        drawn = [run for i, run in enumerate(drawn) if i in chosen]
    for _name, points in others:
        values = [h[metric] for h in points]
        style = dict(color="0.6", lw=0.7, alpha=0.5, zorder=1, label="_other")
        by_epoch.plot([h[EPOCH] for h in points], values, **style)
        if all(SECONDS in h for h in points):
            by_time.plot([h[SECONDS] for h in points], values, **style)
    order = sorted(range(len(drawn)), key=lambda i: -len(drawn[i][1]))  # longest first, i.e. underneath
    for rank, i in enumerate(order):
        name, points = drawn[i]
        values = [h[metric] for h in points]
        style = dict(ls=STYLES[i % len(STYLES)], marker=MARKERS[i % len(MARKERS)], ms=4, lw=1.6, zorder=2 + rank,
                     color=f"C{i % 10}", label=name)
        by_epoch.plot([h[EPOCH] for h in points], values, **style)
        if all(SECONDS in h for h in points):
            by_time.plot([h[SECONDS] for h in points], values, **style)
    by_epoch.set(xlabel="epoch", ylabel=metric, title="per epoch")
    by_time.set(xlabel="training time (s)", ylabel=metric, title="against training time")
    epoch_axis(by_epoch)
    for ax in (by_epoch, by_time):
        ax.grid(alpha=0.3)
    if drawn:
        handles, labels = by_epoch.get_legend_handles_labels()
        by_name = dict(zip(labels, handles))
        names = [name for name, _ in drawn]
        shown = [by_name[n] for n in names]
        if others:
            shown.append(Line2D([], [], color="0.6", lw=0.7))
            names.append(f"{len(others)} other runs")
        fig.legend(shown, names, loc="outside lower center", ncols=min(len(names), 3), fontsize=8)
    heading = f"{title}: {metric}" if title else metric
    if others:
        best = "highest" if higher_is_better(metric) else "lowest"
        heading += f" ({len(drawn)} of {len(drawn) + len(others)} runs named: the {best} {metric})"
    fig.suptitle(heading)
    return fig

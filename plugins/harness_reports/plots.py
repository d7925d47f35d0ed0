"""Matplotlib figures for runs and sweeps, drawn with the object API (no pyplot state).

Each function writes one PNG and returns its path; none needs a display.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def learning_curves(history: list[dict[str, float]], path: Path, title: str = "") -> Path:
    """Train and validation loss (left) and accuracy (right) per epoch."""
    epochs = np.arange(1, len(history) + 1)
    fig = Figure(figsize=(10, 4))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "-"), ("val", "--")):
        loss_ax.plot(epochs, [h[f"{split}_loss"] for h in history], style, marker="o", ms=3, label=split)
        acc_ax.plot(epochs, [100 * h[f"{split}_accuracy"] for h in history], style, marker="o", ms=3, label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    if all(h["train_loss"] > 0 and h["val_loss"] > 0 for h in history):
        loss_ax.set_yscale("log")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int, path: Path, title: str = "") -> Path:
    """Counts of (true class, predicted class) on the test set, with the counts written in."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    fig = Figure(figsize=(6.5, 5.5))
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


def misclassified_grid(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, path: Path,
                       count: int = 36, side: int = 28) -> Path | None:
    """The first ``count`` misclassified test images, captioned ``true → predicted``."""
    wrong = np.flatnonzero(labels != predictions)[:count]
    if len(wrong) == 0:
        return None
    cols = min(9, len(wrong))
    rows = math.ceil(len(wrong) / cols)
    fig = Figure(figsize=(1.2 * cols, 1.35 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, index in zip(axes, wrong):
        ax.imshow(images[index].reshape(side, side), cmap="gray_r")
        ax.set_title(f"{labels[index]} → {predictions[index]}", fontsize=9, color="crimson")
    fig.suptitle(f"misclassified test images (true → predicted), {len(np.flatnonzero(labels != predictions))} in all")
    return _save(fig, path)


def compare_curves(runs: list[tuple[str, list[dict[str, float]]]], path: Path, metric: str = "val_accuracy",
                   title: str = "") -> Path:
    """One curve per run: ``metric`` per epoch (left) and against training time (right).

    The second panel is what compares runs trained for the same wall time rather than
    the same number of epochs (full-batch vs stochastic gradient descent).
    """
    fig = Figure(figsize=(13, 5))
    by_epoch, by_time = fig.subplots(1, 2)
    scale = 100 if "accuracy" in metric else 1
    label = metric + (" (%)" if "accuracy" in metric else "")
    for name, history in runs:
        points = [h for h in history if metric in h]
        if not points:
            continue
        values = [scale * h[metric] for h in points]
        line, = by_epoch.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
        if all("epoch_seconds" in h for h in points):
            by_time.plot(np.cumsum([h["epoch_seconds"] for h in points]), values, marker="o", ms=3,
                         color=line.get_color(), label=name)
    by_epoch.set(xlabel="epoch", ylabel=label, title="per epoch")
    by_time.set(xlabel="training time (s)", ylabel=label, title="against training time")
    for ax in (by_epoch, by_time):
        ax.grid(alpha=0.3)
    if runs:
        by_time.legend(fontsize=8, loc="best")
    fig.suptitle(title or metric)
    return _save(fig, path)

"""Training loss against loss evaluations: the fair axis for gradient-free optimizers.

Comparing random search with gradient descent per *step* or per *epoch* flatters one of
them: a random-search step evaluates the loss twice (before and after its move), a
gradient step once (with its gradient). The chapter's claim is about what each method
gets out of the same number of loss evaluations, so this module records, for a run with
``lessons.loss_curve: true``, the batch loss after every step and the validation
accuracy after every epoch, each against the loss evaluations spent so far
(``steps × evaluations_per_step`` of the optimizer class, 1 unless it says otherwise),
writes them to ``lessons/loss_curve.json`` in the run folder, and draws the runs of a
sweep on one plot (``loss_per_evaluation.png``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CURVE_FILE = Path("lessons") / "loss_curve.json"


@dataclass
class LossCurve:
    """One run's loss and validation accuracy against loss evaluations."""

    optimizer: str
    evaluations_per_step: int
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    epoch_steps: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)

    def add_step(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(loss)

    def add_epoch(self, step: int, val_accuracy: float) -> None:
        self.epoch_steps.append(step)
        self.val_accuracy.append(val_accuracy)

    def as_dict(self, **extra) -> dict:
        k = self.evaluations_per_step
        return {
            "optimizer": self.optimizer, "evaluations_per_step": k,
            "evaluations": [s * k for s in self.steps], "loss": self.losses,
            "epoch_evaluations": [s * k for s in self.epoch_steps], "val_accuracy": self.val_accuracy,
            **extra,
        }


def write(curve: LossCurve, output_dir: Path, **extra) -> Path:
    from harness import atomic_write

    path = output_dir / CURVE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(curve.as_dict(**extra), default=float).encode())
    return path


def read(run_dir: Path | None) -> dict | None:
    """A run folder's recorded curve, or ``None`` (not recorded, unreadable)."""
    if run_dir is None:
        return None
    path = Path(run_dir) / CURVE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _smooth(values: list[float], beta: float = 0.9) -> np.ndarray:
    out, average = [], 0.0
    for i, value in enumerate(values, 1):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta**i))
    return np.array(out)


def plot(curves: list[tuple[str, dict]], path: Path, title: str = "") -> Path:
    """Each run's training loss (left) and validation accuracy (right) against loss evaluations."""
    from matplotlib.figure import Figure

    from harness import atomic_write

    fig = Figure(figsize=(11, 4.2))
    loss_ax, acc_ax = fig.subplots(1, 2)
    colors = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")
    for (label, curve), color in zip(curves, colors * 4):
        evaluations = np.array(curve["evaluations"])
        losses = [x if math.isfinite(x) else np.nan for x in curve["loss"]]
        test = curve.get("test_accuracy")
        per_step = curve["evaluations_per_step"]
        name = f"{curve.get('optimizer') or label}: {per_step} evaluation{'s' if per_step != 1 else ''} per step"
        if isinstance(test, (int, float)):
            name += f", test {100 * test:.1f} %"
        loss_ax.plot(evaluations, losses, ".", ms=2, color=color, alpha=0.25)
        loss_ax.plot(evaluations, _smooth(losses), "-", lw=1.6, color=color, label=name)
        acc_ax.plot(curve["epoch_evaluations"], [100 * a for a in curve["val_accuracy"]], "o-", ms=3, color=color, label=name)
    loss_ax.set(xlabel="loss evaluations", ylabel="training loss (batch, smoothed)", title="training loss")
    acc_ax.set(xlabel="loss evaluations", ylabel="validation accuracy (%)", title="validation accuracy after each epoch")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: loss against loss evaluations" if title else "loss against loss evaluations")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100, bbox_inches="tight"))
    return path

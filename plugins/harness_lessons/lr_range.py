"""Smith's learning-rate range test, as one training run.

Why: the learning rate is the hyperparameter that decides whether training crawls,
converges or blows up, and the good range depends on the model, the data, the batch
size and the optimizer. Instead of a grid of full runs (``+experiment=lr_sweep``), one
short run raises the rate exponentially from tiny to huge and watches the loss: first
nothing happens, then the loss falls faster and faster, then it turns and explodes
(L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", 2017).

Three parts:

* :class:`LrRange`, a per-step schedule (``per_step = True``): from the optimizer's rate
  to ``max_lr`` in ``stages`` equal steps on a log scale over the run's epochs, so the
  rate is held for a few steps at each level and the loss has time to respond;
* :class:`RangeTest`, which records ``(step, lr, loss)`` after every step, smooths the
  loss (an exponential moving average with bias correction, as fastai's ``lr_find``),
  and says when the smoothed loss exceeds ``stop_factor`` × its minimum: exploded;
* :meth:`RangeTest.suggest`: the rate to train with, and the plot.

The suggestion is **a tenth of the rate at which the loss exploded** (the rate the test
stopped at). That rate is the edge of stability: a sharp, reproducible feature of the
curve, where the loss jumps by several times within one level. Training a whole run
near it oscillates or diverges; a decade below it is the largest rate with a safety
margin. The two other common readings are reported and drawn too, but they describe the
learning that happens *during* the test as much as the rate: on MNIST the model learns
within the first few hundred steps, so the smoothed loss has a long flat valley whose
minimum wanders with the noise and the smoothing, and its steepest descent sits early,
where the model had barely started (the README measures all three on the default model).
If the loss never exploded (``max_lr`` too small), the suggestion falls back to a tenth of
the rate at the minimum of the smoothed loss, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import validation as v


class LrRange:
    """Per-step schedule: the optimizer's rate raised to ``max_lr`` in ``stages`` log-spaced levels."""

    kind = "lr_range"
    per_step = True

    def __init__(self, max_lr: float = 10.0, stages: int = 80, stop_factor: float = 4.0, smoothing: float = 0.9):
        self.max_lr = v.positive("max_lr", max_lr)
        self.stages = v.integer("stages", stages, low=2)
        self.stop_factor = v.number("stop_factor", stop_factor, low=1, low_open=True)
        self.smoothing = v.number("smoothing", smoothing, low=0, high=1, high_open=True)

    def lr(self, base_lr: float, epoch: float, total_epochs: int) -> float:
        progress = min(max(epoch / total_epochs, 0.0), 1.0)
        stage = min(int(progress * self.stages + 1e-9), self.stages - 1)
        return base_lr * (self.max_lr / base_lr) ** (stage / (self.stages - 1))


@dataclass
class Suggestion:
    """The range test's reading of its curve."""

    lr: float              # the suggested rate: exploded_at / 10 (min_loss_lr / 10 if it never exploded)
    rule: str              # which of the two
    min_loss_lr: float     # the rate at the minimum of the smoothed loss
    min_loss: float
    steepest_lr: float     # the rate where the smoothed loss fell fastest per decade
    exploded_at: float | None  # the rate at which the test stopped, if the loss exploded


@dataclass
class RangeTest:
    """Loss against learning rate, step by step, with the explosion rule."""

    schedule: LrRange
    steps: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    exploded_at: float | None = None
    _average: float = 0.0
    _lowest: float = math.inf

    def add(self, step: int, lr: float, loss: float) -> bool:
        """Record one step; ``True`` when the loss has exploded (stop the run)."""
        beta = self.schedule.smoothing
        self.steps.append(step)
        self.rates.append(lr)
        self.losses.append(loss)
        self._average = beta * self._average + (1 - beta) * loss
        smooth = self._average / (1 - beta ** len(self.losses))
        self.smoothed.append(smooth)
        self._lowest = min(self._lowest, smooth)
        if not math.isfinite(smooth) or smooth > self.schedule.stop_factor * self._lowest:
            self.exploded_at = lr
            return True
        return False

    def suggest(self) -> Suggestion:
        if not self.smoothed:
            raise ValueError("the range test recorded no step")
        smoothed = np.array(self.smoothed)
        finite = np.where(np.isfinite(smoothed), smoothed, np.inf)
        best = int(np.argmin(finite))
        if self.exploded_at is not None:
            lr, rule = self.exploded_at / 10, "exploded_at / 10"
        else:
            lr, rule = self.rates[best] / 10, "min_loss_lr / 10 (the loss never exploded)"
        return Suggestion(
            lr=lr, rule=rule, min_loss_lr=self.rates[best], min_loss=float(finite[best]),
            steepest_lr=self._steepest(best), exploded_at=self.exploded_at,
        )

    def _steepest(self, best: int) -> float:
        """The rate (one per stage, up to the minimum) where the smoothed loss falls fastest in log(lr)."""
        levels: dict[float, float] = {}
        for rate, smooth in zip(self.rates[: best + 1], self.smoothed[: best + 1]):
            levels[rate] = smooth  # the last smoothed loss at each level
        if len(levels) < 2:
            return self.rates[best]
        rates = np.array(list(levels))
        slope = np.gradient(np.array(list(levels.values())), np.log(rates))
        return float(rates[int(np.argmin(slope))])

    def records(self) -> list[tuple[int, dict[str, float]]]:
        """Per-step metrics for a tracker: the rate, the loss and the smoothed loss."""
        return [
            (step, {"lr_range/lr": rate, "lr_range/loss": loss, "lr_range/smoothed_loss": smooth})
            for step, rate, loss, smooth in zip(self.steps, self.rates, self.losses, self.smoothed)
            if math.isfinite(loss) and math.isfinite(smooth)
        ]

    def as_dict(self) -> dict:
        s = self.suggest()
        return {
            "suggested_lr": s.lr, "min_loss_lr": s.min_loss_lr, "min_smoothed_loss": s.min_loss,
            "steepest_lr": s.steepest_lr, "exploded_at_lr": s.exploded_at, "rule": s.rule,
            "steps": self.steps, "lr": self.rates, "loss": self.losses, "smoothed_loss": self.smoothed,
        }


def plot(test: RangeTest, path: Path, title: str = "") -> Path:
    """Loss against learning rate (log scale), the smoothed curve, and the rates read off it."""
    from matplotlib.figure import Figure

    from harness import atomic_write

    s = test.suggest()
    rates, losses, smoothed = np.array(test.rates), np.array(test.losses), np.array(test.smoothed)
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    ax.plot(rates, losses, ".", ms=3, color="#bbbbbb", label="batch loss")
    ax.plot(rates, smoothed, "-", lw=1.8, color="tab:blue", label="smoothed loss")
    ax.axvline(s.min_loss_lr, color="tab:red", ls="--", lw=1, label=f"minimum of smoothed loss: lr {s.min_loss_lr:.3g}")
    ax.axvline(s.steepest_lr, color="tab:orange", ls=":", lw=1.2, label=f"steepest descent: lr {s.steepest_lr:.3g}")
    if s.exploded_at is not None:
        ax.axvline(s.exploded_at, color="k", lw=1, label=f"stopped: loss exploded at lr {s.exploded_at:.3g}")
    ax.axvline(s.lr, color="tab:green", lw=2.5, label=f"suggested: lr {s.lr:.3g} ({s.rule.split(' (')[0]})")
    finite = smoothed[np.isfinite(smoothed)]
    top = max(finite[0], np.median(finite)) * 1.6 if len(finite) else 1.0
    ax.set_ylim(0, top)
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss", title=title or "learning-rate range test")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=100, bbox_inches="tight"))
    return path

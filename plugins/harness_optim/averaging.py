"""Weight averaging: an exponential moving average (EMA) of the weights, evaluated at the end.

The weights SGD ends with jitter around a minimum by the size of the last steps; an
average over the last few thousand steps sits nearer its centre and usually scores a
little better (Polyak averaging; the EMA that image models are evaluated with). The
average costs one fused pass over the parameters every ``every`` steps and does not
change training: the model trains on its own weights and the average is swapped in
once, after the last epoch, before the test set is scored.

Configured in its own section (``averaging``), off by default::

    averaging: {kind: ema, decay: 0.999, every: 4, start_epoch: 0}

``decay`` is per update, so with ``every: 4`` the average forgets with a time constant of
``every / (1 - decay)`` = 4000 steps. Built on the run-event hooks only: the model
arrives with ``harness_run_start``, the average is updated at ``harness_step_end``, and
swapped in at ``harness_train_end``, once training is over however it stopped (the last
epoch, a time budget, early stopping), before the test set is scored. The validation
accuracy of the averaged weights is logged as ``ema_val_accuracy``.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass

import numpy as np

from harness import ConfigError, predict_classes

log = logging.getLogger("harness.averaging")

SECTION = "averaging"
DEFAULT = {"kind": "none", "decay": 0.999, "every": 4, "start_epoch": 0}
KINDS = ("none", "ema")


@dataclass(frozen=True)
class Settings:
    kind: str = "none"
    decay: float = 0.999
    every: int = 4
    start_epoch: int = 0

    @classmethod
    def from_section(cls, section) -> Settings:
        section = dict(section or {})
        unknown = sorted(set(section) - set(DEFAULT))
        if unknown:
            raise ConfigError(f"{SECTION}: unknown option {unknown[0]!r}; options: {', '.join(DEFAULT)}")
        merged = {**DEFAULT, **section}
        if merged["kind"] not in KINDS:
            raise ConfigError(f"{SECTION}.kind must be one of {', '.join(KINDS)}, got {merged['kind']!r}")
        decay = merged["decay"]
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1:
            raise ConfigError(f"{SECTION}.decay must be a number in (0, 1), got {decay!r}")
        for name in ("every", "start_epoch"):
            value = merged[name]
            low = 1 if name == "every" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{SECTION}.{name} must be an integer >= {low}, got {value!r}")
        return cls(merged["kind"], float(decay), merged["every"], merged["start_epoch"])


class ExponentialAverage:
    """The EMA of a model's parameters; parameters packed end to end are one flat array."""

    def __init__(self, model, settings: Settings):
        self.model, self.settings = model, settings
        self.pairs = [(value, value.copy()) for value in _flat_values(model)]
        self.work = [np.empty_like(average) for _, average in self.pairs]
        self.updates = 0

    def update(self) -> None:
        """``avg += (1 - decay) · (w − avg)``: the first update copies the weights."""
        self.updates += 1
        if self.updates == 1:
            for value, average in self.pairs:
                np.copyto(average, value)
            return
        rate = 1.0 - self.settings.decay
        for (value, average), work in zip(self.pairs, self.work):
            np.subtract(value, average, out=work)
            work *= rate
            average += work

    def swap_in(self) -> None:
        for value, average in self.pairs:
            np.copyto(value, average)


def _flat_values(model) -> list[np.ndarray]:
    """The parameter arrays, merged into the flat array they share when packed end to end."""
    values = [value for _, value, _ in model.named_parameters()]
    base = values[0].base if values else None
    if base is not None and base.ndim == 1 and all(v.base is base for v in values):
        start = (values[0].ctypes.data - base.ctypes.data) // base.itemsize
        size = sum(v.size for v in values)
        if values[-1].ctypes.data + values[-1].nbytes == base[start:start + size].ctypes.data + size * base.itemsize:
            return [base[start:start + size]]
    return values


_runs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # run -> (average, splits)


def register_section(register) -> None:
    register(SECTION)


def validate(config) -> None:
    Settings.from_section(config.section(SECTION))


def run_start(run, model, data) -> None:
    settings = Settings.from_section(run.config.section(SECTION))
    if settings.kind == "ema":
        _runs[run] = (ExponentialAverage(model, settings), data)


def step_end(run, step: int) -> None:
    entry = _runs.get(run)
    if entry is None:
        return
    settings = entry[0].settings
    if step % settings.every == 0 and step > settings.start_epoch * run.steps_per_epoch:
        entry[0].update()


def train_end(run, model, data, result) -> None:
    entry = _runs.get(run)
    if entry is None:
        return
    average = entry[0]
    if average.updates == 0:
        log.warning("averaging: no update was made (start_epoch %d); keeping the trained weights", average.settings.start_epoch)
        return
    tta_shift = run.config.model.tta_shift
    trained = _accuracy(model, data.val_x, data.val_y, tta_shift)
    average.swap_in()
    accuracy = _accuracy(model, data.val_x, data.val_y, tta_shift)
    log.info("averaging: the EMA of the weights (%d updates) replaces them: validation accuracy %.2f%% (trained weights %.2f%%)",
             average.updates, 100 * accuracy, 100 * trained)
    result.summary["ema_val_accuracy"] = accuracy
    run.log_metrics([(len(result.history), {"ema_val_accuracy": accuracy})])


def run_end(run) -> None:
    _runs.pop(run, None)


def _accuracy(model, x: np.ndarray, y: np.ndarray, tta_shift: int) -> float:
    """Scored as the run scores its epochs (with the run's test-time shifts, if any)."""
    return float(np.mean(predict_classes(model, x, x.dtype, tta_shift=tta_shift) == y)) if len(y) else float("nan")

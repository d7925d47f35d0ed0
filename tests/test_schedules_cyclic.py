"""Per-step schedules: warm-up then cosine, and one-cycle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import ConfigError, hookimpl
from harness.testing import train
from harness_optim import OneCycle, WarmupCosine


def test_one_cycle_rises_to_the_base_rate_then_anneals():
    schedule = OneCycle(peak_at=0.25, start_factor=0.1, end_factor=0.001)
    total = 4
    epochs = np.linspace(0, total, 401)
    rates = np.array([schedule.lr(2.0, e, total) for e in epochs])
    assert rates[0] == pytest.approx(0.2)
    assert schedule.lr(2.0, 1.0, total) == pytest.approx(2.0)  # the peak, at a quarter of the run
    assert rates[-1] == pytest.approx(0.002)
    peak = int(np.argmax(rates))
    assert np.all(np.diff(rates[: peak + 1]) >= 0) and np.all(np.diff(rates[peak:]) <= 0)
    assert np.all(rates > 0)


def test_warmup_cosine_warms_up_linearly_then_decays_to_its_floor():
    schedule = WarmupCosine(warmup_epochs=0.5, start_factor=0.1, min_factor=0.01)
    assert schedule.lr(1.0, 0.0, 5) == pytest.approx(0.1)
    assert schedule.lr(1.0, 0.25, 5) == pytest.approx(0.55)
    assert schedule.lr(1.0, 0.5, 5) == pytest.approx(1.0)
    assert schedule.lr(1.0, 2.75, 5) == pytest.approx(0.01 + 0.99 * 0.5)
    assert schedule.lr(1.0, 5.0, 5) == pytest.approx(0.01)
    # a warm-up longer than the run ends with the run, still finite
    assert math.isfinite(WarmupCosine(warmup_epochs=10).lr(1.0, 1.9, 2))


class StepRates:
    def __init__(self):
        self.rates: list[float] = []

    @hookimpl
    def harness_step_end(self, lr):
        self.rates.append(lr)


@pytest.mark.parametrize("schedule", ["one_cycle", "warmup_cosine"])
def test_the_loop_moves_the_rate_every_step(schedule):
    recorder = StepRates()
    outcome = train(["data=blobs", f"schedule={schedule}", "training.epochs=3", "model.layers.0.units=8",
                     "model.layers.2.units=8", "model.layers.4.units=3"], plugins=[recorder])
    steps = outcome.run.steps_per_epoch
    assert len(recorder.rates) == 3 * steps and steps > 1
    assert len(set(recorder.rates[:steps])) == steps  # changes within the first epoch
    assert outcome.history[-1]["train_loss"] < outcome.history[0]["train_loss"]


@pytest.mark.parametrize("override, field", [
    ("schedule.peak_at=1.0", "peak_at"),
    ("schedule.start_factor=0", "start_factor"),
    ("schedule.end_factor=2", "end_factor"),
])
def test_bad_one_cycle_options_are_one_line_errors(override, field):
    with pytest.raises(ConfigError, match=field):
        train(["data=blobs", "schedule=one_cycle", override, "training.epochs=1"])

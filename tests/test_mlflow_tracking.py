"""Runs recorded in MLflow's SQLite store: params, metrics, config, status."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from harness.errors import DivergenceError
from harness.training.experiment import run_experiment
from conftest import TINY

TRACKED = [o for o in TINY if o != "tracking=none"] + ["tracking=mlflow", "name=tiny"]


def _only_run(tmp_path):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return client, experiment, runs[0]


def test_run_is_recorded_with_params_metrics_and_config(compose_config, plugins, tmp_path):
    run = run_experiment(compose_config(TRACKED), pm=plugins, run_name="gd=minibatch")
    client, experiment, recorded = _only_run(tmp_path)
    assert experiment.artifact_location == (tmp_path / "mlartifacts").resolve().as_uri()
    assert recorded.info.status == "FINISHED"
    assert recorded.info.run_name == "gd=minibatch"
    assert recorded.data.params["optimizer.lr"] == "0.1"
    assert recorded.data.params["model.layers.0.units"] == "16"
    assert recorded.data.metrics["test_accuracy"] == pytest.approx(run.summary["test_accuracy"])
    assert recorded.data.metrics["train_seconds"] > 0
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        history = client.get_metric_history(recorded.info.run_id, name)
        assert [m.step for m in history] == [1, 2, 3]
        assert [m.value for m in history] == pytest.approx([e[name] for e in run.history])
    artifacts = [a.path for a in client.list_artifacts(recorded.info.run_id)]
    assert "config.yaml" in artifacts
    text = (tmp_path / "config.yaml")
    client.download_artifacts(recorded.info.run_id, "config.yaml", str(tmp_path))
    assert "lr: 0.1" in text.read_text()


def test_failed_run_ends_failed_with_the_reason(compose_config, plugins, tmp_path):
    cfg = compose_config([*TRACKED, "optimizer=sgd", "optimizer.lr=1e8", "model.layers.0.init=normal", "+model.layers.0.init_scale=100"])
    with pytest.raises(DivergenceError):
        run_experiment(cfg, pm=plugins)
    _, _, recorded = _only_run(tmp_path)
    assert recorded.info.status == "FAILED"
    assert recorded.data.tags["harness.error"].startswith("DivergenceError: training diverged")


def test_runs_of_one_project_share_one_store(compose_config, plugins, tmp_path):
    for lr in ("0.01", "0.1"):
        run_experiment(compose_config([*TRACKED, f"optimizer.lr={lr}"]), pm=plugins)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == ["0.01", "0.1"]
    assert list(tmp_path.glob("**/mlflow.db")) == [tmp_path / "mlflow.db"]

"""Runs recorded in MLflow's SQLite store: params, metrics, config, status."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY
from harness.errors import DivergenceError
from harness.training.experiment import run_experiment

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


# ------------------------------------------------------------- round trips


def test_the_model_is_logged_and_linked_without_reading_the_run_back(compose_config, plugins, tmp_path, monkeypatch):
    # mlflow's Model.log read every metric's history back to link the model's step, which
    # cost a tiny sweep job more than its training: the run links what it logged itself.
    def read_back(*args, **kwargs):
        raise AssertionError("the run's metric histories were read back while it was recorded")

    monkeypatch.setattr(MlflowClient, "get_metric_history", read_back)
    run = run_experiment(compose_config(TRACKED), pm=plugins)
    monkeypatch.undo()
    client, experiment, recorded = _only_run(tmp_path)
    assert recorded.info.status == "FINISHED"
    (model,) = client.search_logged_models([experiment.experiment_id])
    linked = {m.key: m for m in model.metrics}
    best = run.summary["best_epoch"]
    assert linked["val_accuracy"].step == best + 1
    assert linked["val_accuracy"].value == pytest.approx(run.history[best]["val_accuracy"])
    assert linked["test_accuracy"].value == pytest.approx(run.summary["test_accuracy"])
    # A linked copy adds no point to the run's own history.
    assert [m.step for m in client.get_metric_history(recorded.info.run_id, "val_accuracy")] == [1, 2, 3]


def test_metrics_go_in_one_batch_per_checkpoint_and_reach_the_store_before_it(compose_config, plugins, tmp_path,
                                                                              monkeypatch):
    from harness_mlflow import tracked

    monkeypatch.setattr(tracked, "SEND_EVERY_SECONDS", 1e9)  # only what the run's events send
    batches, uploaded = [], []
    log_batch, log_artifact = MlflowClient.log_batch, MlflowClient.log_artifact

    def count(self, run_id, metrics=(), params=(), tags=(), **kwargs):
        batches.append((len(metrics or ()), len(params or ()), len(tags or ())))
        return log_batch(self, run_id, metrics=metrics, params=params, tags=tags, **kwargs)

    def upload(self, run_id, local_path, artifact_path=None):
        if artifact_path == "checkpoint" and local_path.endswith(".json"):
            steps = [m.step for m in self.get_metric_history(run_id, "val_accuracy")]
            uploaded.append(steps)
        return log_artifact(self, run_id, local_path, artifact_path)

    monkeypatch.setattr(MlflowClient, "log_batch", count)
    monkeypatch.setattr(MlflowClient, "log_artifact", upload)
    run_experiment(compose_config([*TRACKED, "tracking.log_model=false"]), pm=plugins)
    # Each checkpoint's manifest is uploaded once the epochs it covers are in the store.
    assert uploaded == [[1], [1, 2], [1, 2, 3]]
    # The params, one batch per checkpoint (the epoch's metrics with the diagnostics'
    # records), one at the end (final metrics and tags): five, where one per epoch event
    # and one per final item made twelve.
    assert len(batches) == 5
    assert batches[0][1] > 0 and all(metrics > 0 for metrics, _, _ in batches[1:])

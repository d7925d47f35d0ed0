"""Parallel sweeps lose nothing, into SQLite and into a tracking server; the UI and
the model server see what was recorded. Servers are started by the tests on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from servers import ENV, free_port, serving

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
TINY = ["data=blobs", "model.layers.4.units=3", "training.epochs=2", "progress=never",
        "tracking.log_model=false", "reports.plots=false", "training.checkpoint_every=0", "name=parallel"]
SIXTEEN = "seed=range(16)"


def sweep(project: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(BIN / "harness-train"), "-m", *TINY, *args, f"hydra.sweep.dir={project / 'multirun'}"],
        cwd=project, capture_output=True, text=True, timeout=timeout, env=ENV,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


def get_json(url: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def check_sweep(client: MlflowClient, jobs: int, epochs: int = 2) -> None:
    experiment = client.get_experiment_by_name("parallel")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == jobs
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert sorted(int(c.data.params["seed"]) for c in children) == list(range(jobs))
    for child in children:
        assert child.info.status == "FINISHED"
        for metric in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"):
            assert [m.step for m in client.get_metric_history(child.info.run_id, metric)] == list(range(1, epochs + 1))
        assert "test_accuracy" in child.data.metrics


@pytest.mark.parametrize("repeat", range(3))
def test_sixteen_parallel_jobs_into_a_fresh_sqlite_store_lose_nothing(tmp_path, repeat):
    sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", SIXTEEN)
    check_sweep(MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"), 16)


def test_sixteen_parallel_jobs_into_a_tracking_server_lose_nothing(tmp_path):
    port = free_port()
    backend = f"sqlite:///{tmp_path / 'server.db'}"
    # Create and migrate the server's database before its worker processes start: on a
    # fresh SQLite file they race MLflow's schema migrations and can hang, the very race
    # the harness avoids for its own store.
    MlflowClient(tracking_uri=backend).search_experiments()
    server = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
              "--backend-store-uri", backend,
              "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "2"]
    with serving(server, port, tmp_path) as url:
        sweep(tmp_path, "tracking=server", f"tracking.uri={url}", "hydra/launcher=joblib",
              "hydra.launcher.n_jobs=4", SIXTEEN)
        check_sweep(MlflowClient(tracking_uri=url), 16)
        experiment = get_json(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=parallel")["experiment"]
        found = get_json(f"{url}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]], "max_results": 100})
        assert len(found["runs"]) == 17
    assert not (tmp_path / "mlflow.db").exists()  # nothing went to a local store by mistake


def test_mlflow_ui_shows_the_experiment_parent_and_children(tmp_path):
    sweep(tmp_path, "seed=0,1,2")
    port = free_port()
    ui = [str(BIN / "mlflow"), "ui", "--host", "127.0.0.1", "--port", str(port),
          "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    with serving(ui, port, tmp_path) as url:
        experiment = get_json(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=parallel")["experiment"]
        runs = get_json(f"{url}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
        parents = [r for r, t in zip(runs, tags) if t.get("harness.sweep") == "parent"]
        children = [t for t in tags if "mlflow.parentRunId" in t]
        assert len(parents) == 1 and len(children) == 3
        assert {t["mlflow.parentRunId"] for t in children} == {parents[0]["info"]["run_id"]}
        assert parents[0]["info"]["status"] == "FINISHED"


def test_logged_model_is_served_over_http(tmp_path):
    sweep(tmp_path, "seed=0,1", "tracking.log_model=true")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    child = next(r for r in client.search_runs([client.get_experiment_by_name("parallel").experiment_id])
                 if "mlflow.parentRunId" in r.data.tags)
    port = free_port()
    serve = [str(BIN / "mlflow"), "models", "serve", "-m", f"runs:/{child.info.run_id}/model",
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    env = {**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    with serving(serve, port, tmp_path, ready_path="/ping", env=env) as url:
        from harness_datasets import Blobs

        splits = Blobs().load()
        answer = get_json(f"{url}/invocations", {"inputs": splits.test_x[:20].tolist()})
    predictions = answer["predictions"]
    assert len(predictions) == 20
    assert sum(int(p) == int(y) for p, y in zip(predictions, splits.test_y[:20])) >= 16

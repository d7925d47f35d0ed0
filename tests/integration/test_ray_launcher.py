"""Hydra's Ray launcher (the ``ray`` extra) on a local Ray instance limited to 2 CPUs:
every job a child of one parent, models logged (cloudpickle 2, which the launcher pins,
is all MLflow needs here: harness logs models from code, not pickles)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from mlflow.tracking import MlflowClient
from services import ENV

pytestmark = [pytest.mark.ray, pytest.mark.slow]

BIN = Path(sys.executable).parent
# Ray waits a fixed 30 s for its raylet to register; on a loaded 2-core machine that can
# run out before any job starts. Only that start-up failure is retried, once.
RAY_STARTUP = "The current node timed out during startup"


def ray_sweep(project: Path) -> subprocess.CompletedProcess:
    args = [str(BIN / "harness-train"), "-m", "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
            "seed=0,1", "data=blobs", "model.layers.4.units=3", "training.epochs=2", "progress=never",
            "diagnostics.enabled=false", "name=ray", f"hydra.sweep.dir={project / 'multirun'}"]
    env = {**ENV, "RAY_USAGE_STATS_ENABLED": "0"}
    for _ in range(2):
        result = subprocess.run(args, cwd=project, capture_output=True, text=True, timeout=1200, env=env)
        if RAY_STARTUP not in result.stderr:
            return result
    return result


def test_ray_launcher_sweep_on_a_local_two_cpu_ray(tmp_path):
    result = ray_sweep(tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("ray").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "ray: seed"
    assert len(children) == 2 and {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.params["seed"] for c in children) == ["0", "1"]
    for child in children:
        assert child.info.status == "FINISHED"
        # A LoggedModel's files are listed through a models:/ repository that MLflow opens
        # with the default tracking URI, not the client's: point the default at this store.
        with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": client.tracking_uri}):
            assert "model/MLmodel" in {a.path for a in client.list_artifacts(child.info.run_id, "model")}
        assert int(child.data.tags["harness.pid"]) != 0
    # The jobs ran in Ray's worker processes, not in the launching one.
    assert len({c.data.tags["harness.pid"] for c in children} | {parent.data.tags["harness.pid"]}) >= 2

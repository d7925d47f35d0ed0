"""SLURM's code path without SLURM: ``hydra/launcher=submitit_local`` runs each job as a
submitit job (its own process, pickled task, log files in ``<sweep>/.submitit/``), as
``submitit_slurm`` does on a cluster minus the scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from services import ENV

pytestmark = [pytest.mark.submitit, pytest.mark.slow]

BIN = Path(sys.executable).parent
FAULT_PLUGIN = Path(__file__).resolve().parents[1] / "fixtures" / "fault_plugin"
TINY = ["data=blobs", "model.layers.4.units=3", "training.epochs=2", "progress=never", "tracking.log_model=false",
        "diagnostics.enabled=false", "reports.plots=false", "name=submitit", "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=20"]


def sweep(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "harness-train"), "-m", *TINY, *args, f"hydra.sweep.dir={project / 'multirun'}"],
                          cwd=project, capture_output=True, text=True, timeout=1200, env=env or ENV)


def runs_of(project: Path):
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("submitit").experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def test_submitit_sweep_records_parent_children_and_where_the_job_logs_are(tmp_path):
    result = sweep(tmp_path, "seed=0,1")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (parent,), children = runs_of(tmp_path)
    assert parent.info.status == "FINISHED" and parent.info.run_name == "submitit: seed"
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    for child in children:
        tags = child.data.tags
        assert tags["harness.submitit.executor"] == "local"
        stdout, stderr = Path(tags["harness.submitit.stdout"]), Path(tags["harness.submitit.stderr"])
        assert stdout.parent.parent == (tmp_path / "multirun" / ".submitit").resolve()
        assert stdout.name.startswith(tags["harness.submitit.job_id"]) and stdout.is_file()
        logs = stdout.read_text() + stderr.read_text()
        assert f"MLflow run {child.info.run_id} (FINISHED)" in logs  # this run's own job wrote them


def test_a_sigkilled_submitit_job_is_repaired_and_the_rerun_resumes_the_sweep(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"2": {"kind": "sigkill", "at_step": 3}}))  # the last job dies mid-training
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULT_PLUGIN), os.environ.get("PYTHONPATH")]))}
    args = ["seed=0,1,2", f"+faults.plan={plan}"]

    crashed = sweep(tmp_path, *args, env=env)
    assert crashed.returncode != 0
    (parent,), children = runs_of(tmp_path)
    by_seed = {c.data.params["seed"]: c for c in children}
    assert by_seed["0"].info.status == by_seed["1"].info.status == "FINISHED"
    killed = by_seed["2"]
    assert killed.info.status == "RUNNING"  # SIGKILL: nobody could end it
    assert Path(killed.data.tags["harness.submitit.stdout"]).is_file()

    repaired = subprocess.run([str(BIN / "harness"), "runs", "repair"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=ENV)
    assert repaired.returncode == 0, repaired.stderr
    assert f"ended {killed.info.run_id} (" in repaired.stdout
    assert runs_of(tmp_path)[1] and MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(
        killed.info.run_id).info.status == "KILLED"

    plan.write_text("{}")  # the machine is healthy again: same command, same configs
    again = sweep(tmp_path, *args, env=env)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    (same_parent,), children = runs_of(tmp_path)
    assert same_parent.info.run_id == parent.info.run_id and same_parent.info.status == "FINISHED"
    statuses: dict[str, list[str]] = {}
    for child in children:
        statuses.setdefault(child.data.params["seed"], []).append(child.info.status)
    assert {k: sorted(v) for k, v in statuses.items()} == {"0": ["FINISHED"], "1": ["FINISHED"], "2": ["FINISHED", "KILLED"]}

"""Multirun sweeps into MLflow: one parent per sweep, children with models (and plots when asked).

Each test launches ``harness-train -m`` as a user does, on the blobs set, in its own
project directory (so its own ``mlflow.db``), then reads the store back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # each test launches harness-train sweeps in subprocesses

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
HARNESS = str(Path(sys.executable).with_name("harness"))
QUICK = ["data=blobs", "model.layers.4.units=3", "training.epochs=3", "name=sweep", "progress=never"]


def launch(project: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [HARNESS_TRAIN, "-m", *args, *QUICK, f"hydra.sweep.dir={project / 'multirun'}"],
        cwd=project, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )


def store(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def runs_of(client: MlflowClient, experiment: str = "sweep"):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_sweep_children_under_one_parent_with_plots_models_and_comparison(tmp_path):
    result = launch(tmp_path, "optimizer.lr=0.05,0.1", "seed=1,2", "reports.plots=true")
    assert result.returncode == 0, result.stderr[-3000:]
    client = store(tmp_path)
    (parent,), children = runs_of(client)
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert parent.info.status == "FINISHED"
    assert "optimizer.lr=0.05,0.1" in parent.data.tags["harness.overrides"]
    assert "harness-train" in parent.data.tags["harness.command"]
    assert sorted(c.info.run_name for c in children) == [
        "optimizer.lr=0.05 seed=1", "optimizer.lr=0.05 seed=2", "optimizer.lr=0.1 seed=1", "optimizer.lr=0.1 seed=2",
    ]
    for child in children:
        assert child.info.status == "FINISHED"
        assert {"plots/learning_curves.png", "plots/confusion_matrix.png"} <= artifact_paths(client, child.info.run_id, "plots")
        (model,) = client.search_logged_models([parent.info.experiment_id], filter_string=f"source_run_id = '{child.info.run_id}'")
        assert "MLmodel" in {a.path for a in client.list_logged_model_artifacts(model.model_id)}
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")] == [1, 2, 3]
        # Launched by harness-train in this process: MLflow's context tags, resolved once by the launcher.
        assert child.data.tags["mlflow.user"] and child.data.tags["mlflow.source.name"].endswith("harness-train")
        assert child.data.tags["mlflow.source.name"] == parent.data.tags["mlflow.source.name"]
    assert {"comparison.png", "comparison.csv", "comparison.md"} <= artifact_paths(client, parent.info.run_id)
    # The parent, folded: the swept keys as params and the best child's numbers under the children's names.
    assert parent.data.params == {"optimizer.lr": "0.05,0.1", "seed": "1,2"}
    assert parent.data.metrics["children_finished"] == 4 and parent.data.metrics["children_failed"] == 0
    best = max(children, key=lambda c: (c.data.metrics["best_val_accuracy"], -c.info.start_time))
    assert parent.data.tags["harness.best_child_run_id"] == best.info.run_id
    assert parent.data.tags["harness.best_child"] == best.info.run_name
    for name in ("best_val_accuracy", "test_accuracy", "test_loss"):
        assert parent.data.metrics[name] == best.data.metrics[name]
    assert best.info.run_name in parent.data.tags["mlflow.note.content"]
    table = (tmp_path / "multirun" / "comparison" / "comparison.csv").read_text().splitlines()
    assert table[0].startswith("run,status,test_accuracy") and len(table) == 5
    accuracies = [float(line.split(",")[2]) for line in table[1:]]
    assert accuracies == sorted(accuracies, reverse=True)


def test_failed_job_is_recorded_the_sweep_goes_on_and_the_parent_fails(tmp_path):
    result = launch(tmp_path, "optimizer=sgd", "optimizer.lr=1e9,0.1")
    assert result.returncode == 1
    assert "training diverged" in result.stderr
    client = store(tmp_path)
    (parent,), children = runs_of(client)
    statuses = sorted(c.info.status for c in children)
    assert statuses == ["FAILED", "FINISHED"]
    failed = next(c for c in children if c.info.status == "FAILED")
    assert failed.data.tags["harness.error"].startswith("DivergenceError: training diverged")
    assert parent.info.status == "FAILED"
    assert not any(r.info.status == "RUNNING" for r in [parent, *children])


def test_single_run_is_not_wrapped_in_a_parent(compose_config, plugins, tmp_path):
    from harness.training.experiment import run_experiment

    cfg = compose_config([o for o in QUICK if o != "progress=never"] + ["tracking=mlflow", "tracking.log_model=false"])
    run_experiment(cfg, pm=plugins)
    (only,) = store(tmp_path).search_runs([store(tmp_path).get_experiment_by_name("sweep").experiment_id])
    assert "mlflow.parentRunId" not in only.data.tags
    assert only.data.tags.get("harness.sweep") is None


def test_joblib_sweep_loses_no_child_and_no_metric_step(tmp_path):
    result = launch(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1,2,3,4,5",
                    "tracking.log_model=false")
    assert result.returncode == 0, result.stderr[-3000:]
    client = store(tmp_path)
    (parent,), children = runs_of(client)
    assert len(children) == 6 and parent.info.status == "FINISHED"
    assert sorted(int(c.data.params["seed"]) for c in children) == [0, 1, 2, 3, 4, 5]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        for metric in ("train_loss", "val_loss", "val_accuracy", "lr"):
            assert [m.step for m in client.get_metric_history(child.info.run_id, metric)] == [1, 2, 3]
        # reports.plots=auto: a sweep's jobs draw no plots of their own; the parent compares them all.
        assert not artifact_paths(client, child.info.run_id, "plots")
        assert "checkpoint/checkpoint.json" in artifact_paths(client, child.info.run_id, "checkpoint")
    # Two workers share the cores: each job's BLAS ran cores // 2 threads (workers x threads <= cores).
    from harness.threads import cores

    for job in sorted((tmp_path / "multirun").glob("[0-9]*/harness_job.json")):
        assert json.loads(job.read_text())["summary"]["blas_threads"] == max(1, cores() // 2), job
    assert {"comparison.png", "comparison.csv", "comparison.md"} <= artifact_paths(client, parent.info.run_id)


def test_rerunning_a_crashed_sweep_skips_what_finished_under_the_same_parent(tmp_path):
    first = launch(tmp_path, "seed=0,1,2", "tracking.log_model=false")
    assert first.returncode == 0, first.stderr[-3000:]
    client = store(tmp_path)
    (parent,), children = runs_of(client)
    # Simulate a crash: the launcher died (parent KILLED) while job seed=2 was running.
    client.set_terminated(parent.info.run_id, "KILLED")
    crashed = next(c for c in children if c.data.params["seed"] == "2")
    client.set_terminated(crashed.info.run_id, "KILLED")

    again = launch(tmp_path, "seed=0,1,2", "tracking.log_model=false")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (again.stdout + again.stderr).count("skipping: an identical run already finished") == 2
    (same_parent,), children = runs_of(client)
    assert same_parent.info.run_id == parent.info.run_id
    assert same_parent.info.status == "FINISHED"
    by_seed = {}
    for child in children:
        by_seed.setdefault(child.data.params["seed"], []).append(child.info.status)
    assert {k: sorted(v) for k, v in by_seed.items()} == {"0": ["FINISHED"], "1": ["FINISHED"], "2": ["FINISHED", "KILLED"]}
    # The comparison shows each configuration's outcome once, not the superseded attempt.
    table = subprocess.run([HARNESS, "compare", "--out", str(tmp_path / "cmp")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("| seed=")]
    assert sorted(row.split("|")[1].strip() for row in rows) == ["seed=0", "seed=1", "seed=2"]
    assert all("| FINISHED |" in row for row in rows)


def dead_pid() -> str:
    """The pid of a process that has exited (and been reaped)."""
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True)
    return gone.stdout.strip()


def test_repair_then_rerun_the_parent_rule(tmp_path):
    """A launcher killed outright: `runs repair` ends the parent KILLED (not FAILED) and its
    running child KILLED; the same command again finishes the sweep under that parent, which
    ends FINISHED without the repair's error tag, the killed attempt tagged superseded."""
    first = launch(tmp_path, "seed=0,1,2", "tracking.log_model=false")
    assert first.returncode == 0, first.stderr[-3000:]
    client = store(tmp_path)
    (parent,), children = runs_of(client)
    crashed = next(c for c in children if c.data.params["seed"] == "2")
    for run_id in (parent.info.run_id, crashed.info.run_id):  # as a SIGKILL leaves them
        client.update_run(run_id, status="RUNNING")
        client.set_tag(run_id, "harness.pid", dead_pid())
    repaired = subprocess.run([HARNESS, "runs", "repair"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert repaired.returncode == 0, repaired.stderr
    assert client.get_run(parent.info.run_id).info.status == "KILLED"
    assert client.get_run(crashed.info.run_id).info.status == "KILLED"
    assert client.get_run(parent.info.run_id).data.tags["harness.error"].startswith("repaired: process")

    again = launch(tmp_path, "seed=0,1,2", "tracking.log_model=false")
    assert again.returncode == 0, again.stderr[-3000:]
    (same_parent,), children = runs_of(client)
    assert same_parent.info.run_id == parent.info.run_id and same_parent.info.status == "FINISHED"
    assert "harness.error" not in same_parent.data.tags
    rerun = next(c for c in children if c.data.params["seed"] == "2" and c.info.status == "FINISHED")
    assert client.get_run(crashed.info.run_id).data.tags["harness.superseded_by"] == rerun.info.run_id
    assert not any("harness.superseded_by" in c.data.tags for c in children if c.info.status == "FINISHED")
    table = subprocess.run([HARNESS, "compare", "--out", str(tmp_path / "cmp")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    assert "1 superseded attempt(s) not shown" in table.stdout


def test_compare_command_prints_the_table_and_writes_the_plot(tmp_path):
    assert launch(tmp_path, "optimizer.lr=0.05,0.1", "tracking.log_model=false").returncode == 0
    result = subprocess.run([HARNESS, "compare", "--out", str(tmp_path / "cmp")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| run | status | test_accuracy")
    assert sum(line.startswith("| optimizer.lr=") for line in lines) == 2
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 10_000
    missing = subprocess.run([HARNESS, "compare", "--experiment", "nope"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.startswith("harness: error: unknown experiment 'nope'; known:")
    no_sweep = subprocess.run([HARNESS, "compare", "--sweep", "0" * 32], cwd=tmp_path, capture_output=True, text=True)
    assert no_sweep.returncode == 2 and no_sweep.stderr.strip() == f"harness: error: --sweep: no run '{'0' * 32}' in sqlite:///{tmp_path / 'mlflow.db'}"

    # --all: the experiment's single runs (a sweep's parent and children are left out).
    single = subprocess.run([HARNESS_TRAIN, *QUICK, "optimizer.lr=0.02", "tracking.log_model=false", f"hydra.run.dir={tmp_path / 'single'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    every = subprocess.run([HARNESS, "compare", "--all", "--experiment", "sweep", "--out", str(tmp_path / "all")],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert every.returncode == 0, every.stderr
    assert sum(line.startswith("| ") and "FINISHED" in line for line in every.stdout.splitlines()) == 1


def test_logged_model_loads_in_a_fresh_process_and_predicts(tmp_path, monkeypatch):
    assert launch(tmp_path, "seed=0,1").returncode == 0
    client = store(tmp_path)
    _, children = runs_of(client)
    run_id = children[0].info.run_id
    script = f"""
import json, numpy as np, mlflow, pandas as pd
mlflow.set_tracking_uri("sqlite:///{tmp_path / 'mlflow.db'}")
model = mlflow.pyfunc.load_model("runs:/{run_id}/model")
from harness_datasets import Blobs
splits = Blobs().load()
pred = np.asarray(model.predict(splits.test_x.astype(np.float32)))
frame = np.asarray(model.predict(pd.DataFrame(splits.test_x.astype(np.float32))))
print(json.dumps({{"acc": float((pred == splits.test_y).mean()), "same": bool((pred == frame).all()),
                   "inputs": model.metadata.get_input_schema().to_dict()[0]["type"]}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["acc"] > 0.8 and result["same"]
    assert result["inputs"] == "tensor"
    (model,) = client.search_logged_models([children[0].info.experiment_id], filter_string=f"source_run_id = '{run_id}'")
    # (MLflow resolves models:/ through the process's tracking URI, whatever client asks)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    model_dir = mlflow.artifacts.download_artifacts(f"models:/{model.model_id}", dst_path=str(tmp_path / "dl"))
    files = {p.name for p in Path(model_dir).rglob("*")}
    assert {"MLmodel", "weights.npz", "model_spec.json", "pyfunc_model.py"} <= files
    assert not any(name.endswith((".pkl", ".cloudpickle")) for name in files)

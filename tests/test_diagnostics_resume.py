"""Diagnostics survive a stop and a resume (issue 12, item 3): the tracking store ends with
exactly the records an uninterrupted run has, every step once, whether the run was
stopped cleanly (Ctrl-C) or killed (SIGKILL, then ``harness runs repair``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from harness.plugins import load_plugins
from harness.training.experiment import run_experiment
from harness.training.interrupts import StopRequested
from interrupting import InterruptAt

HERE = Path(__file__).resolve().parent
HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
HARNESS = str(Path(sys.executable).with_name("harness"))
# Timings differ between any two runs; everything else a run records must not.
TIMED = {"epoch_seconds", "samples_per_second", "train_seconds"}
RUN = [
    "data=blobs", "progress=never", "training.epochs=4", "reports.plots=false", "tracking=mlflow",
    "tracking.log_model=false", "diagnostics.every_steps=5", "diagnostics.plots=false",
    "model.layers=[{type:dense,units:16,init:he},{type:relu},{type:dense,units:3,init:xavier}]",
]


def histories(client: MlflowClient, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every metric of a run as its ``(step, value)`` points, timings without values."""
    run = client.get_run(run_id)
    out = {}
    for key in run.data.metrics:
        points = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        out[key] = [(step, 0.0) for step, _ in points] if key in TIMED else points
    return out


def only_run(client: MlflowClient, experiment: str):
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def diagnostics_keys(metrics) -> list[str]:
    return [k for k in metrics if k.endswith("grad_norm_ratio") or "update_ratio/" in k]


def test_a_run_stopped_one_step_before_a_record_and_resumed_records_everything_once(compose_config, tmp_path):
    """Stopped after step 14 with records every 5 steps: the record of step 15, the first
    after the resume, still has its update ratios (the weights before step 15 are the ones
    the resumed run starts from)."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_experiment(compose_config([*RUN, "name=straight"]), pm=load_plugins(use_env=False))
    pm = load_plugins(use_env=False)
    pm.register(InterruptAt(14), name="interrupt")
    with pytest.raises(StopRequested):
        run_experiment(compose_config([*RUN, "name=stopped"]), pm=pm)
    stopped = only_run(client, "stopped")
    run_experiment(compose_config([*RUN, "name=stopped", f"resume={stopped.info.run_id}"]), pm=load_plugins(use_env=False))

    straight, resumed = histories(client, only_run(client, "straight").info.run_id), histories(client, stopped.info.run_id)
    keys = diagnostics_keys(straight)
    assert keys and any("update_ratio/" in k for k in keys)
    assert [step for step, _ in straight[keys[0]]] == list(range(0, 25, 5))  # 4 epochs of 6 steps
    assert resumed == straight


@pytest.mark.slow
def test_sigkill_repair_and_resume_lose_no_diagnostics_record(tmp_path):
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": f"{HERE / 'fixtures' / 'fault_plugin'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    sgd = [*RUN, "gd=sgd", "optimizer=sgd", "optimizer.lr=0.01", "training.epochs=3", "diagnostics.every_steps=50",
           "data.n_samples=1000"]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"0": {"kind": "sigkill", "at_step": 1500}}))  # 600 steps an epoch: inside epoch 3

    def train(*extra: str, name: str = "killed") -> subprocess.CompletedProcess:
        return subprocess.run([HARNESS_TRAIN, *sgd, f"name={name}", *extra], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=900)

    straight = train(name="straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    killed = train(f"+faults.plan={plan}", f"hydra.run.dir={tmp_path / 'first'}")
    assert killed.returncode == -signal.SIGKILL
    plan.write_text("{}")  # the resumed run reads the same plan: no fault this time
    repaired = subprocess.run([HARNESS, "runs", "repair"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert repaired.returncode == 0 and "KILLED" in repaired.stdout, repaired.stdout + repaired.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = only_run(client, "killed").info.run_id
    resumed = subprocess.run([HARNESS_TRAIN, f"resume={run_id}", f"hydra.run.dir={tmp_path / 'again'}"],
                             cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    assert only_run(client, "killed").info.status == "FINISHED"
    expected = histories(client, only_run(client, "straight").info.run_id)
    got = histories(client, run_id)
    keys = diagnostics_keys(expected)
    assert [step for step, _ in expected[keys[0]]] == list(range(0, 1801, 50))
    lost = {k: sorted({s for s, _ in expected[k]} - {s for s, _ in got.get(k, [])}) for k in keys}
    assert not any(lost.values()), lost
    assert got == expected  # nothing lost, nothing twice, the same numbers

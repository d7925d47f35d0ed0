"""Ctrl-C as a user sends it, at the moments that used to end in a traceback or leave runs
RUNNING (issue 12, items 5 and 11): while the data loads, twice in quick succession, and
on a joblib sweep. Every case ends in one line, exit 130, and no run left RUNNING.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

HERE = Path(__file__).resolve().parent
HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
       "PYTHONPATH": f"{HERE / 'fixtures' / 'fault_plugin'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
QUICK = ["data=blobs", "model.layers.4.units=3", "progress=never", "tracking.log_model=false", "reports.plots=false"]


def runs(project: Path, experiment: str) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def read_until(process: subprocess.Popen, marker: str, count: int = 1, timeout: float = 600) -> str:
    """The process's output until ``marker`` has been seen ``count`` times."""
    import selectors

    seen, hits = [], 0
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.time() + timeout
    while time.time() < deadline and selector.select(timeout=max(0.0, deadline - time.time())):
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        hits += marker in line
        if hits >= count:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"saw {marker!r} {hits} times:\n" + "".join(seen[-30:]))


def one_line_ending(output: str) -> str:
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    return output.strip().splitlines()[-1]


# -------------------------------------------------------------- item 11: single runs


def test_sigint_while_the_data_loads_is_one_line_and_records_nothing(tmp_path):
    result = subprocess.run([HARNESS_TRAIN, *QUICK, "data.name=interrupted_blobs", "name=early"], cwd=tmp_path,
                            capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 130
    assert one_line_ending(result.stderr) == "harness-train: stopped by SIGINT before the run started; nothing was recorded"
    assert runs(tmp_path, "early") == []


def test_sigterm_while_the_data_loads_is_one_line_too(tmp_path):
    result = subprocess.run([HARNESS_TRAIN, *QUICK, "data.name=interrupted_blobs", "+data.signal=SIGTERM", "name=early"],
                            cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 143
    assert one_line_ending(result.stderr) == "harness-train: stopped by SIGTERM before the run started; nothing was recorded"


@pytest.mark.slow
def test_two_sigints_20_ms_apart_mid_epoch_are_one_line_and_a_killed_run(tmp_path):
    slow = [*QUICK, "data.n_samples=30000", "gd=sgd", "optimizer=sgd", "optimizer.lr=0.01", "training.epochs=2",
            "name=twice", f"hydra.run.dir={tmp_path / 'run'}"]
    process = subprocess.Popen([HARNESS_TRAIN, *slow], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=ENV)
    read_until(process, "epoch 1/2")
    process.send_signal(signal.SIGINT)
    time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 130
    last = one_line_ending(output)
    assert last.startswith("harness-train: ") and ("stopped by SIGINT" in last or "second interrupt" in last), last
    (run,) = runs(tmp_path, "twice")
    assert run.info.status == "KILLED"


# ---------------------------------------------------------- item 5: a joblib sweep


@pytest.mark.slow
@pytest.mark.parametrize("target", ["process group", "launcher only"])
def test_ctrl_c_on_a_joblib_sweep_ends_every_run_killed(tmp_path, target):
    command = [HARNESS_TRAIN, "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *QUICK, "data.n_samples=12000",
               "gd=sgd", "optimizer=sgd", "training.epochs=2", "optimizer.lr=0.01,0.02,0.03", "name=swept"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=ENV, start_new_session=True)  # as `setsid`: its own process group
    read_until(process, "epoch 1/2", count=2)  # both workers are training
    if target == "process group":
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    else:
        process.send_signal(signal.SIGINT)  # the launcher alone: it passes the stop on
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 130, output[-3000:]
    assert one_line_ending(output).startswith("harness-train: sweep stopped by SIGINT: 3 jobs (3 killed)")
    found = runs(tmp_path, "swept")
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    parents = [r for r in found if r.data.tags.get("harness.sweep") == "parent"]
    assert len(children) == 2 and {r.info.status for r in children} == {"KILLED"}  # the third never started
    assert all(r.data.tags["harness.error"].startswith("StopRequested: stopped by SIG") for r in children)
    assert [p.info.status for p in parents] == ["KILLED"]
    # Each stopped job left a checkpoint to resume from.
    assert len(list((tmp_path / "multirun").glob("swept/*/*/checkpoint/checkpoint.json"))) == 2

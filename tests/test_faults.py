"""Runs that survive faults: resume bit for bit, signals, divergence, SIGKILL and repair.

The in-process tests interrupt a run with a real SIGINT sent to this process by a small
plugin at a chosen step; the subprocess tests signal ``harness-train`` as a user (or a
scheduler) would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from harness import hookimpl
from harness.plugins import load_plugins
from harness.training.experiment import run_experiment
from harness.training.interrupts import StopRequested
from interrupting import InterruptAt

HERE = Path(__file__).resolve().parent
HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
HARNESS = str(Path(sys.executable).with_name("harness"))

# Dropout and momentum: resuming must restore every generator and optimizer slot.
RUN = [
    "data=blobs", "tracking=none", "progress=never", "training.epochs=4", "reports.plots=false",
    "model.layers=[{type:dense,units:16,init:he},{type:relu},{type:dropout,rate:0.3},{type:dense,units:3,init:xavier}]",
]


def interrupted_then_resumed(compose_config, tmp_path, overrides, step):
    pm = load_plugins(use_env=False)
    pm.register(InterruptAt(step), name="interrupt")
    cfg = compose_config([*RUN, *overrides])
    with pytest.raises(StopRequested):
        run_experiment(cfg, pm=pm)
    checkpoint = tmp_path / "out" / "checkpoint"
    from harness.training.checkpoint import files

    manifest, arrays_file = files(checkpoint)
    assert manifest.is_file() and arrays_file.is_file()
    with np.load(arrays_file, allow_pickle=False) as data:
        assert any(key.startswith("optimizer/") for key in data.files)
    # The run folder works as well as its checkpoint/ inside it.
    where = checkpoint.parent if step % 2 else checkpoint
    return run_experiment(compose_config([*RUN, *overrides, f"resume={where}"]), pm=load_plugins(use_env=False))


BATCH_NORM = "model.layers=[{type:dense,units:16,init:he},{type:batch_norm},{type:relu},{type:dropout,rate:0.3},{type:dense,units:3,init:xavier}]"


@pytest.mark.parametrize("step", [13, 18], ids=["inside an epoch", "at an epoch boundary"])
@pytest.mark.parametrize("extra", [[], [BATCH_NORM]], ids=["dropout", "batch norm"])
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(compose_config, plugins, tmp_path, step, extra):
    straight = run_experiment(compose_config([*RUN, *extra]), pm=plugins)
    assert straight.run.steps_per_epoch == 6  # so step 18 ends epoch 3 and step 13 is inside it
    resumed = interrupted_then_resumed(compose_config, tmp_path, extra, step)
    assert resumed.run.resumed
    from harness.training.arrays import model_arrays

    final, again = model_arrays(straight.model), model_arrays(resumed.model)
    assert final.keys() == again.keys() and (not extra or any(k.startswith("buffer/") for k in final))
    for key in final:
        assert np.array_equal(final[key], again[key]), key
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("epoch_seconds", "samples_per_second")} for e in h]
    assert strip(resumed.history) == strip(straight.history)
    assert resumed.summary["test_accuracy"] == straight.summary["test_accuracy"]


class InterruptInValidation:
    """Sends SIGINT while epoch ``epoch`` is being validated (after its steps, before its
    history, best weights and checkpoint are recorded): the longest stretch outside steps."""

    def __init__(self, epoch: int):
        self.epoch, self.calls = epoch, 0

    @hookimpl
    def harness_run_start(self, model):
        evaluate = model.evaluate

        def interrupted(x, y):
            self.calls += 1
            if self.calls == self.epoch:
                os.kill(os.getpid(), signal.SIGINT)
            return evaluate(x, y)

        model.evaluate = interrupted


def test_a_signal_during_validation_stops_after_the_epoch_is_recorded(compose_config, plugins, tmp_path):
    straight = run_experiment(compose_config(RUN), pm=plugins)
    pm = load_plugins(use_env=False)
    pm.register(InterruptInValidation(epoch=2), name="interrupt")
    with pytest.raises(StopRequested):
        run_experiment(compose_config(RUN), pm=pm)
    resumed = run_experiment(compose_config([*RUN, f"resume={tmp_path / 'out' / 'checkpoint'}"]), pm=load_plugins(use_env=False))
    # Epoch 2 counted once: four history rows, training time the sum of the epochs' times.
    assert len(resumed.history) == resumed.summary["epochs"] == 4
    assert resumed.summary["train_seconds"] == pytest.approx(sum(row["epoch_seconds"] for row in resumed.history))
    assert [row["val_loss"] for row in resumed.history] == [row["val_loss"] for row in straight.history]
    assert resumed.summary["test_accuracy"] == straight.summary["test_accuracy"]


class SignalAtRunEnd:
    """Sends SIGTERM while the run's records are being closed, as a preempting scheduler might."""

    @hookimpl
    def harness_run_end(self, status):  # a strict subset of the hook's arguments, as pluggy allows
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_while_a_finished_run_is_recorded_stops_the_process_after_it(compose_config, tmp_path):
    pm = load_plugins(use_env=False)
    pm.register(SignalAtRunEnd(), name="preempt")
    tracked = ["tracking=mlflow", "tracking.log_model=false", "name=preempted"]
    with pytest.raises(StopRequested) as stopped:
        run_experiment(compose_config([*RUN, *tracked]), pm=pm)
    assert stopped.value.signum == signal.SIGTERM and stopped.value.exit_code == 143
    assert stopped.value.finished_run.summary["epochs"] == 4  # the run was complete ...
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("preempted").experiment_id])
    assert run.info.status == "FINISHED"  # ... and is recorded as such, not lost or KILLED


def test_resume_by_mlflow_run_id_continues_the_same_run(compose_config, tmp_path):
    tracked = ["tracking=mlflow", "tracking.log_model=false", "name=faults"]
    pm = load_plugins(use_env=False)
    pm.register(InterruptAt(13), name="interrupt")
    with pytest.raises(StopRequested):
        run_experiment(compose_config([*RUN, *tracked]), pm=pm)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (killed,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    assert killed.info.status == "KILLED"
    assert "checkpoint" in {a.path for a in client.list_artifacts(killed.info.run_id)}

    resumed = run_experiment(compose_config([*RUN, *tracked, f"resume={killed.info.run_id}"]), pm=load_plugins(use_env=False))
    (again,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    assert again.info.run_id == killed.info.run_id and again.info.status == "FINISHED"
    assert killed.data.tags["harness.error"] == "StopRequested: stopped by SIGINT"
    assert "harness.error" not in again.data.tags  # finished now: the old reason is gone
    assert [m.step for m in client.get_metric_history(again.info.run_id, "val_accuracy")] == [1, 2, 3, 4]
    assert again.data.metrics["test_accuracy"] == pytest.approx(resumed.summary["test_accuracy"])


def test_resume_of_something_that_is_not_a_checkpoint_is_one_line(compose_config, plugins, tmp_path):
    from harness.errors import ConfigError, DataError

    with pytest.raises(ConfigError, match=r"^resume must be a checkpoint directory or a tracked run id, got 'nowhere'"):
        run_experiment(compose_config([*RUN, "resume=nowhere"]), pm=plugins)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no checkpoint here"):
        run_experiment(compose_config([*RUN, f"resume={tmp_path / 'empty'}"]), pm=plugins)


def test_diverging_run_ends_failed_with_the_reason(compose_config, tmp_path):
    from harness.errors import DivergenceError

    pm = load_plugins(use_env=False)
    cfg = compose_config([*RUN, "tracking=mlflow", "tracking.log_model=false", "name=faults",
                          "+faults.kind=diverge", "+faults.at_step=7"])
    sys.path.insert(0, str(HERE / "fixtures" / "fault_plugin"))
    try:
        import harness_fault_fixture

        pm.register(harness_fault_fixture, name="faults")
        with pytest.raises(DivergenceError, match=r"step 8 \(epoch 2\)"):
            run_experiment(cfg, pm=pm)
    finally:
        sys.path.remove(str(HERE / "fixtures" / "fault_plugin"))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (failed,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    assert failed.info.status == "FAILED"
    assert "the update of 0.dense.W (layer 0.dense) at step 7 was not finite" in failed.data.tags["harness.error"]


# ----------------------------------------------------------- signals, as a user sends them

SLOW = ["data=blobs", "data.n_samples=30000", "model.layers.4.units=3", "gd=sgd", "optimizer=sgd", "optimizer.lr=0.01", "training.epochs=2",
        "name=signals", "progress=never", "tracking.log_model=false", "reports.plots=false"]


def start(project: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [HARNESS_TRAIN, *SLOW, *extra, f"hydra.run.dir={project / 'run'}"], cwd=project,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true"},
    )


def read_until(process: subprocess.Popen, marker: str, timeout: float = 120) -> str:
    """Read the process's output until a line contains ``marker``; never block past ``timeout``."""
    import selectors

    seen = []
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.time())):
            break
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"never saw {marker!r}:\n" + "".join(seen[-20:]))


def wait_for_training(process: subprocess.Popen) -> str:
    """The first epoch is done: the run is in its training loop."""
    return read_until(process, "epoch 1/2")


def only_run(project: Path, experiment: str = "signals"):
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return client, run


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_a_checkpoint_ends_killed_and_can_resume(tmp_path, sig, code):
    process = start(tmp_path)
    wait_for_training(process)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == code, output[-2000:]
    assert f"{signal.Signals(sig).name} received" in output and "writing a checkpoint" in output
    assert (tmp_path / "run" / "checkpoint" / "checkpoint.json").is_file()
    client, run = only_run(tmp_path)
    assert run.info.status == "KILLED"
    assert run.data.tags["harness.error"].startswith("StopRequested: stopped by " + signal.Signals(sig).name)

    resumed = subprocess.run([HARNESS_TRAIN, f"resume={run.info.run_id}", f"hydra.run.dir={tmp_path / 'again'}"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    client, run = only_run(tmp_path)
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2]


def test_first_signal_waits_for_the_step_and_a_second_sigint_stops_at_once():
    from harness.training.interrupts import InterruptGuard

    before = signal.getsignal(signal.SIGINT)  # default, or ignored when launched in the background
    with InterruptGuard() as guard:
        guard.deferring = True  # inside the optimizer steps
        os.kill(os.getpid(), signal.SIGINT)
        assert guard.requested == signal.SIGINT  # noted, nothing raised: the step goes on
        with pytest.raises(StopRequested):
            guard.check()  # ... and stops at the step boundary
        with pytest.raises(KeyboardInterrupt) as second:
            os.kill(os.getpid(), signal.SIGINT)
        assert not isinstance(second.value, StopRequested)  # at once, no clean stop
        guard.closing = True  # while the run's records are closed, even SIGINT only waits
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) == before


def test_a_signal_outside_the_steps_stops_at_once():
    from harness.training.interrupts import InterruptGuard

    with InterruptGuard(), pytest.raises(StopRequested):
        os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.slow
def test_two_quick_sigints_still_end_the_run_killed(tmp_path):
    process = start(tmp_path)
    wait_for_training(process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode != 0
    _, run = only_run(tmp_path)
    assert run.info.status == "KILLED"


@pytest.mark.slow
def test_sigkill_leaves_a_run_that_repair_ends_killed(tmp_path):
    process = start(tmp_path)
    wait_for_training(process)
    process.kill()
    process.communicate(timeout=60)
    _, run = only_run(tmp_path)
    assert run.info.status == "RUNNING"
    dry = subprocess.run([HARNESS, "runs", "repair", "--dry-run"], cwd=tmp_path, capture_output=True, text=True)
    assert dry.returncode == 0 and f"would end {run.info.run_id}" in dry.stdout
    repaired = subprocess.run([HARNESS, "runs", "repair"], cwd=tmp_path, capture_output=True, text=True)
    assert repaired.returncode == 0, repaired.stderr
    assert f"ended {run.info.run_id} (" in repaired.stdout
    assert f") KILLED: process {process.pid} on " in repaired.stdout
    _, run = only_run(tmp_path)
    assert run.info.status == "KILLED" and run.data.tags["harness.error"].startswith("repaired: process")


def test_repair_leaves_live_runs_alone(compose_config, tmp_path):
    from harness_mlflow.repair import stale_runs

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("live")
    from harness_mlflow.process import identity_tags

    client.create_run(exp, tags=identity_tags())  # this very process: alive
    assert stale_runs(client, [exp]) == []

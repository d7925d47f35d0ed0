"""A run that is still training is not resumed a second time (issue 12, item 4).

The run folder holds ``harness.lock`` (host, pid, process start time) while its run
trains; the MLflow run holds the same identity in its tags. Both are judged by the one
liveness test of the core (:class:`harness.ProcessIdentity`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import ProcessIdentity, TrackingError, owner_alive
from harness.plugins import load_plugins
from harness.processes import process_start_time
from harness.runlock import LOCK_FILE, FolderInUse, claim, holder, holding, release
from harness.training.experiment import run_experiment

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
RUN = ["data=blobs", "tracking=none", "progress=never", "training.epochs=2", "reports.plots=false",
       "model.layers.4.units=3"]


@pytest.fixture
def other_process():
    """A live process that is not this one, and its identity."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    deadline = time.time() + 30
    while process_start_time(process.pid) is None and time.time() < deadline:
        time.sleep(0.05)
    yield ProcessIdentity(socket.gethostname(), process.pid, process_start_time(process.pid))
    process.kill()
    process.wait()


def write_lock(folder: Path, owner: ProcessIdentity) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_FILE).write_text(json.dumps(owner.as_dict()))


# ------------------------------------------------------------------ the liveness test


def test_liveness_of_this_process_a_live_one_a_dead_one_and_a_recycled_pid(other_process):
    me = ProcessIdentity.current()
    assert me.alive() is True and me.is_current()
    assert other_process.alive() is True and not other_process.is_current()
    recycled = ProcessIdentity(other_process.host, other_process.pid, "1")  # same pid, another start time
    assert recycled.alive() is False
    assert ProcessIdentity("some-other-host", os.getpid(), None).alive() is None
    assert owner_alive(me.as_dict("harness."), "harness.") is True
    assert owner_alive({}, "harness.") is None


def test_the_mlflow_plugin_uses_the_core_liveness_test(other_process):
    from harness_mlflow import process

    tags = process.identity_tags()
    assert tags == ProcessIdentity.current().as_dict("harness.")
    assert process.owner_alive(tags) is True and process.live_owner(tags) is None  # this process: not "another"
    other = other_process.as_dict("harness.")
    assert process.live_owner(other) == f"process {other_process.pid} on {other_process.host}"
    os.kill(other_process.pid, signal.SIGKILL)
    os.waitpid(other_process.pid, 0)
    assert process.owner_alive(other) is False and process.live_owner(other) is None


# ------------------------------------------------------------------- the folder lock


def test_a_folder_held_by_a_live_process_is_refused_and_a_stale_lock_taken_over(tmp_path, other_process):
    folder = tmp_path / "run"
    write_lock(folder, other_process)
    with pytest.raises(FolderInUse) as refused:
        claim(folder)
    assert str(refused.value) == (f"run folder {folder} is in use by process {other_process.pid} on "
                                  f"{other_process.host} (still running): stop it first or wait for it to end")
    release(folder)  # not ours: left alone
    assert holder(folder) == other_process

    os.kill(other_process.pid, signal.SIGKILL)
    os.waitpid(other_process.pid, 0)
    assert holder(folder) is None  # gone: stale
    claim(folder)
    assert ProcessIdentity.from_dict(json.loads((folder / LOCK_FILE).read_text())).is_current()
    claim(folder)  # this process again: fine
    release(folder)
    assert not (folder / LOCK_FILE).exists()


def test_a_lock_from_another_host_is_not_guessed_at(tmp_path):
    folder = tmp_path / "run"
    write_lock(folder, ProcessIdentity("elsewhere", 12345, "99"))
    with pytest.raises(FolderInUse, match=r"in use by process 12345 on elsewhere \(another host: remove .*harness.lock"):
        claim(folder)


def test_holding_releases_on_the_way_out(tmp_path):
    with pytest.raises(RuntimeError), holding(tmp_path / "a", None, tmp_path / "b"):
        assert (tmp_path / "a" / LOCK_FILE).is_file() and (tmp_path / "b" / LOCK_FILE).is_file()
        raise RuntimeError("boom")
    assert not (tmp_path / "a" / LOCK_FILE).exists() and not (tmp_path / "b" / LOCK_FILE).exists()


def test_a_run_holds_its_folder_while_it_trains_and_releases_it(compose_config, plugins, tmp_path):
    from harness import hookimpl

    seen = []

    class Look:
        @hookimpl
        def harness_epoch_end(self, run):
            seen.append(holder(run.output_dir) is None and (run.output_dir / LOCK_FILE).is_file())

    plugins.register(Look(), name="look")
    outcome = run_experiment(compose_config(RUN), pm=plugins)
    assert seen == [True, True]  # held, by this process, at every epoch
    assert not (outcome.run.output_dir / LOCK_FILE).exists()


# --------------------------------------------------------------- resume is refused


def test_resuming_a_folder_whose_run_still_trains_is_refused(compose_config, plugins, tmp_path, other_process):
    run_experiment(compose_config(RUN), pm=plugins)
    folder = tmp_path / "out"
    write_lock(folder, other_process)  # as if that run were still training
    again = compose_config([*RUN, f"resume={folder / 'checkpoint'}", f"paths.output_dir={tmp_path / 'again'}"])
    with pytest.raises(FolderInUse) as refused:
        run_experiment(again, pm=load_plugins(use_env=False))
    assert str(refused.value).startswith(f"resume: run folder {folder} is in use by process {other_process.pid}")
    assert "\n" not in str(refused.value)
    assert holder(tmp_path / "again") is None and not (tmp_path / "again" / LOCK_FILE).exists()


def test_resuming_an_mlflow_run_whose_process_lives_is_refused(compose_config, tmp_path, other_process):
    from mlflow.tracking import MlflowClient

    tracked = [*RUN, "tracking=mlflow", "tracking.log_model=false", "name=locked"]
    run_experiment(compose_config(tracked), pm=load_plugins(use_env=False))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("locked").experiment_id])
    # As the run looks while its process trains it: RUNNING, owned by a live process.
    client.update_run(run.info.run_id, status="RUNNING")
    for key, value in other_process.as_dict("harness.").items():
        client.set_tag(run.info.run_id, key, value)
    with pytest.raises(TrackingError) as refused:
        run_experiment(compose_config([*tracked, f"resume={run.info.run_id}"]), pm=load_plugins(use_env=False))
    assert str(refused.value) == (f"resume: MLflow run {run.info.run_id} ({run.info.run_name}) is still running (process "
                                  f"{other_process.pid} on {other_process.host}): stop it first or wait for it to end")


@pytest.mark.slow
def test_resume_while_the_run_trains_is_refused_in_one_line(tmp_path):
    from mlflow.tracking import MlflowClient

    slow = ["data=blobs", "data.n_samples=30000", "model.layers.4.units=3", "gd=sgd", "optimizer=sgd",
            "optimizer.lr=0.01", "training.epochs=2", "name=busy", "progress=never", "tracking.log_model=false",
            "reports.plots=false"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    first = subprocess.Popen([HARNESS_TRAIN, *slow, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        for line in first.stdout:
            if "epoch 1/2" in line:
                break
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        (run,) = client.search_runs([client.get_experiment_by_name("busy").experiment_id])
        for reference in (str(tmp_path / "run"), run.info.run_id):
            second = subprocess.run([HARNESS_TRAIN, f"resume={reference}", f"hydra.run.dir={tmp_path / 'again'}"],
                                    cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
            assert second.returncode == 2, second.stderr[-2000:]
            assert "Traceback" not in second.stderr
            last = second.stderr.strip().splitlines()[-1]
            assert f"process {first.pid} on {socket.gethostname()}" in last and "still running" in last, last
        assert first.poll() is None  # the first run trains on, untouched
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=300)
    assert first.returncode == 130

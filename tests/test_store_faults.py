"""The tracking store under faults: concurrent creation, full disks, garbage and
read-only files, resuming what must not be resumed (issue 12, part B).

Full disks are real: a small tmpfs mounted for the test (root only; skipped otherwise,
saying why). A read-only store is tested as a user without write permission on it:
``nobody`` through ``runuser`` when the interpreter is reachable for that user, else
root without its permission override (``setpriv`` dropping ``CAP_DAC_OVERRIDE``), or
the current user when the tests do not run as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY
from harness.errors import ConfigError, TrackingError
from harness.training.experiment import run_experiment

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DISK_FIXTURE = HERE / "fixtures" / "disk_plugin"
TRACKED = [o for o in TINY if o != "tracking=none"] + ["tracking=mlflow", "name=tiny"]
# A subprocess run: blobs, small, quick, no plots.
QUICK = ["data=blobs", "model.layers.4.units=3", "training.epochs=1", "progress=never", "reports.plots=false"]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


def store_runs(db: Path, experiment: str | None = None) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    ids = [e.experiment_id for e in client.search_experiments()
           if experiment is None or e.name == experiment]
    return client.search_runs(ids, max_results=1000) if ids else []


# ----------------------------------------------------------- concurrent creation

OPEN_AND_RECORD = """
import os, sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
from harness_mlflow.store import Store, client_for, experiment_id
store = Store(sys.argv[1], None, "concurrent")
client = client_for(store)
run = client.create_run(experiment_id(client, store))
client.set_terminated(run.info.run_id, "FINISHED")
"""


def test_eight_processes_opening_a_fresh_store_at_once_all_record(tmp_path):
    """Every command opens the store through ``client_for``: eight processes released at
    the same instant into a folder without ``mlflow.db`` all create their run."""
    db, go = tmp_path / "mlflow.db", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_RECORD, f"sqlite:///{db}", str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
             for _ in range(8)]
    time.sleep(2)  # let every process import and wait at the start line
    go.touch()
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0] * 8, "\n".join(err[-800:] for code, err in outcomes if code)
    runs = store_runs(db, "concurrent")
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}


@pytest.mark.slow
def test_eight_independent_harness_train_runs_into_a_fresh_store(tmp_path):
    """A shell loop of eight ``harness-train`` (no sweep pre-creates the store): all exit 0, all recorded."""
    procs = [subprocess.Popen([str(BIN / "harness-train"), *QUICK, "tracking.log_model=false", f"seed={seed}"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
             for seed in range(8)]
    outcomes = [(p.wait(timeout=1800), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0] * 8, "\n".join(err[-800:] for code, err in outcomes if code)
    runs = store_runs(tmp_path / "mlflow.db")
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.data.params["seed"] for r in runs) == [str(s) for s in range(8)]


def test_a_ready_store_is_opened_without_taking_the_lock(tmp_path, monkeypatch):
    import filelock

    from harness_mlflow import sqlite_store
    from harness_mlflow.store import prepare_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    prepare_store(uri)  # creates it (under the lock)
    assert sqlite_store.state(tmp_path / "mlflow.db") == sqlite_store.READY
    sqlite_store._ready.clear()  # a new process, as far as the store knows

    def no_lock(*args, **kwargs):
        raise AssertionError("a ready store must not take the creation lock")

    monkeypatch.setattr(filelock, "FileLock", no_lock)
    prepare_store(uri)
    prepare_store(uri, write=False)


# ------------------------------------------------------------------ garbage store


def test_a_garbage_store_is_one_line_naming_it_before_any_data_loads(compose_config, plugins, tmp_path, monkeypatch):
    (tmp_path / "mlflow.db").write_text("x\n")
    from harness_datasets import synthetic

    def never(self):
        raise AssertionError("data was loaded before the store was checked")

    monkeypatch.setattr(synthetic.Blobs, "load", never)
    with pytest.raises(TrackingError) as caught:
        run_experiment(compose_config(TRACKED), pm=plugins)
    message = str(caught.value)
    assert str(tmp_path / "mlflow.db") in message and "not an MLflow store" in message and "\n" not in message


@pytest.mark.parametrize("command", [["runs", "repair"], ["compare", "--all"]])
def test_commands_on_a_garbage_store_say_so_in_one_line(tmp_path, command):
    (tmp_path / "mlflow.db").write_text("x\n")
    result = subprocess.run([str(BIN / "harness"), *command], cwd=tmp_path, capture_output=True, text=True, env=env())
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"harness: error: {tmp_path / 'mlflow.db'} is not an MLflow store: not a readable "
                                     f"SQLite database (file is not a database); move it away or use another tracking.uri")


# --------------------------------------------------------------- read-only store


def unprivileged(folder: Path) -> list[str]:
    """A command prefix running as a user who cannot write a 0444 file owned by root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser"):
        probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "pass"], capture_output=True)
        if probe.returncode == 0:
            return ["runuser", "-u", "nobody", "--", "env", f"HOME={folder}"]
    if shutil.which("setpriv"):  # root, without the capabilities that ignore file permissions
        return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    pytest.skip("running as root without runuser (for nobody) or setpriv: cannot act as a user without write permission")


@pytest.fixture
def read_only_store():
    """A project folder anyone can use, holding a store with one finished run, mode 0444."""
    folder = Path(tempfile.mkdtemp(prefix="harness-ro-"))
    try:
        from harness_mlflow.store import Store, client_for, experiment_id

        store = Store(f"sqlite:///{folder / 'mlflow.db'}", (folder / "mlartifacts").as_uri(), "ro")
        client = client_for(store)
        run = client.create_run(experiment_id(client, store), run_name="only")
        client.set_terminated(run.info.run_id, "FINISHED")
        (folder / "mlflow.db.lock").unlink(missing_ok=True)
        folder.chmod(0o777)  # Hydra writes outputs/ here
        (folder / "mlflow.db").chmod(0o444)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_read_only_store_is_refused_in_one_line_that_says_so(read_only_store):
    prefix = unprivileged(read_only_store)
    result = subprocess.run([*prefix, str(BIN / "harness-train"), *QUICK], cwd=read_only_store,
                            capture_output=True, text=True, env=env(HOME=str(read_only_store)), timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"harness-train: error: the MLflow store {read_only_store / 'mlflow.db'} is read-only: ")
    assert "Traceback" not in result.stderr and "SQLAlchemy" not in result.stderr
    repair = subprocess.run([*prefix, str(BIN / "harness"), "runs", "repair"], cwd=read_only_store,
                            capture_output=True, text=True, env=env(HOME=str(read_only_store)))
    assert repair.returncode == 2 and "is read-only" in repair.stderr and "Traceback" not in repair.stderr
    # Reading needs no write permission.
    listed = subprocess.run([*prefix, str(BIN / "harness"), "compare", "--all", "--out", str(read_only_store / "cmp")],
                            cwd=read_only_store, capture_output=True, text=True, env=env(HOME=str(read_only_store)))
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "only" in listed.stdout


def test_mlflow_database_errors_are_reported_once_and_not_retried(caplog):
    import logging

    from mlflow.exceptions import MlflowException

    from harness_mlflow.store import quiet_mlflow, retrying

    quiet_mlflow()
    with caplog.at_level(logging.ERROR):
        logging.getLogger("mlflow.store.db.utils").error(
            "SQLAlchemy database error. The following exception is caught.\n%s", "(sqlite3.OperationalError) ...")
    assert not caplog.records  # the caller reports it, in one line
    calls = []

    def readonly():
        calls.append(1)
        raise MlflowException("(sqlite3.OperationalError) attempt to write a readonly database")

    with pytest.raises(MlflowException):
        retrying(readonly)
    assert len(calls) == 1


# --------------------------------------------------------------------- full disks


@pytest.fixture
def tiny_disk(tmp_path):
    """``make_disk(size)`` mounts a tmpfs of that size (``"4m"``) and returns its folder."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk to fill) needs root")
    mounted = []

    def make_disk(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield make_disk
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_store_full_at_run_end_fails_in_one_line_and_repair_records_the_outcome(tiny_disk):
    """The whole project on a small disk that fills up when training ends: the run exits
    non-zero naming the store and a local record; once space is freed, repair ends the run
    with the recorded outcome and its final metrics. Nothing is left RUNNING or truncated."""
    project = tiny_disk("4m")
    result = subprocess.run(
        [str(BIN / "harness-train"), *QUICK, "training.epochs=2", f"+fill_disk.folder={project}"],
        cwd=project, capture_output=True, text=True, env=env(PYTHONPATH=str(DISK_FIXTURE)), timeout=900)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "SQLAlchemy database error" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "the MLflow store" in last and "cannot be written (database or disk is full)" in last
    (record_path,) = project.glob("outputs/*/*/harness_unrecorded.json")
    assert str(record_path) in last
    record = json.loads(record_path.read_text())
    assert record["status"] == "FAILED" and record["summary"]["test_accuracy"] > 0.5
    (left,) = store_runs(project / "mlflow.db")
    assert left.info.status == "RUNNING" and left.info.run_id == record["run_id"]

    (project / "filler.bin").unlink()  # the user frees space
    repaired = subprocess.run([str(BIN / "harness"), "runs", "repair"], cwd=project, capture_output=True, text=True,
                              env=env())
    assert repaired.returncode == 0, repaired.stderr
    assert f"ended {record['run_id']}" in repaired.stdout and "FAILED" in repaired.stdout
    (run,) = store_runs(project / "mlflow.db")
    assert run.info.status == "FAILED"
    assert run.data.metrics["test_accuracy"] == pytest.approx(record["summary"]["test_accuracy"])
    assert "database or disk is full" in run.data.tags["harness.error"]
    assert not record_path.exists()
    from harness_mlflow.artifacts import damaged_files

    assert damaged_files(project / "mlartifacts") == []


WIDE = "model.layers=[{type:dense,units:60000},{type:relu},{type:dense,units:3}]"  # weights.npz > 1 MB


def test_a_full_artifact_disk_leaves_no_truncated_model(tiny_disk, tmp_path):
    """The database has room, the artifact root does not: the model upload fails part-way.
    The run ends FAILED, the command exits non-zero in one line, and no file in the
    artifact store is cut short (MLflow's folder upload used to leave weights.npz so)."""
    artifacts = tiny_disk("1m")
    project = tmp_path / "project"
    project.mkdir()
    result = subprocess.run(
        [str(BIN / "harness-train"), *QUICK, WIDE, f"tracking.artifact_root={artifacts.as_uri()}",
         "tracking.log_checkpoints=false"],
        cwd=project, capture_output=True, text=True, env=env(), timeout=900)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("could not be recorded completely (no space left on device); "
                                                           "it ended FAILED")
    (run,) = store_runs(project / "mlflow.db")
    assert run.info.status == "FAILED"
    from harness_mlflow.artifacts import damaged_files

    assert damaged_files(artifacts) == []
    assert not list(artifacts.rglob("weights.npz")) or all(
        np.load(path, allow_pickle=False).files for path in artifacts.rglob("weights.npz"))


UPLOAD_UNDER_A_SIZE_LIMIT = """
import resource, signal, sys
from harness_mlflow.artifacts import AtomicLocalArtifactRepository
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
cls = AtomicLocalArtifactRepository if sys.argv[3] == "atomic" else LocalArtifactRepository
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    cls(sys.argv[2]).log_artifacts(sys.argv[1], "model")
except OSError as exc:
    print("failed:", exc.strerror)
"""


@pytest.mark.parametrize("repository", ["atomic", "mlflow"])
def test_a_folder_upload_that_fails_leaves_complete_files_or_none(tmp_path, repository):
    """MLflow's own folder upload is the one that truncates (shown by its parameter); ours does not."""
    source = tmp_path / "model"
    (source / "artifacts").mkdir(parents=True)
    (source / "MLmodel").write_text("flavors: {}\n")
    np.savez(source / "artifacts" / "weights.npz", w=np.arange(400_000, dtype=np.float32))  # 1.6 MB
    store = tmp_path / "store"
    store.mkdir()
    result = subprocess.run([sys.executable, "-c", UPLOAD_UNDER_A_SIZE_LIMIT, str(source), store.as_uri(), repository],
                            capture_output=True, text=True, env=env())
    assert "failed: File too large" in result.stdout, result.stderr[-2000:]
    from harness_mlflow.artifacts import damaged_files

    weights = store / "model" / "artifacts" / "weights.npz"
    if repository == "atomic":
        assert damaged_files(store) == [] and not weights.exists()
        assert (store / "model" / "MLmodel").read_text() == "flavors: {}\n"
    else:
        assert damaged_files(store) == [str(weights)]


# ------------------------------------------------------------------------ resume


def test_resume_refuses_a_finished_run(compose_config, plugins, tmp_path):
    run_experiment(compose_config(TRACKED), pm=plugins)
    (finished,) = store_runs(tmp_path / "mlflow.db")
    with pytest.raises(TrackingError, match=rf"resume: MLflow run {finished.info.run_id} .*already FINISHED"):
        run_experiment(compose_config([*TRACKED, f"resume={finished.info.run_id}"]), pm=plugins)
    (again,) = store_runs(tmp_path / "mlflow.db")
    assert again.info.end_time == finished.info.end_time
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert len(client.get_metric_history(finished.info.run_id, "test_accuracy")) == 1
    # The run folder of that run: refused too (at run start: the folder names the run only in its checkpoint).
    with pytest.raises(TrackingError, match="already FINISHED"):
        run_experiment(compose_config([*TRACKED, f"resume={tmp_path / 'out'}"]), pm=plugins)


def test_an_empty_resume_is_refused_not_a_fresh_run(compose_config, plugins, tmp_path):
    with pytest.raises(ConfigError, match=r"^resume= needs a value: a tracked run id, a run folder"):
        run_experiment(compose_config([*TINY, "resume="]), pm=plugins)
    assert not (tmp_path / "out").exists()


def start_time(pid: int) -> str:
    """Field 22 of ``/proc/<pid>/stat``: what the run's ``harness.proc_start`` tag records."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def test_resume_refuses_a_run_whose_process_is_alive(compose_config, plugins, tmp_path):
    run_experiment(compose_config(TRACKED), pm=plugins)
    (run,) = store_runs(tmp_path / "mlflow.db")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # As if that process were still training it (its checkpoint is in the store).
        client.update_run(run.info.run_id, status="RUNNING")
        client.set_tag(run.info.run_id, "harness.pid", str(owner.pid))
        client.set_tag(run.info.run_id, "harness.proc_start", start_time(owner.pid))
        with pytest.raises(TrackingError, match=rf"is still running \(process {owner.pid} on "):
            run_experiment(compose_config([*TRACKED, f"resume={run.info.run_id}"]), pm=plugins)
    finally:
        owner.kill()
        owner.wait()
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 3


# --------------------------------------------------------------------- divergence


def test_a_run_diverged_before_any_epoch_logs_no_model(compose_config, plugins, tmp_path):
    cfg = compose_config([*TRACKED, "optimizer=sgd", "optimizer.lr=1e8", "model.layers.0.init=normal",
                          "+model.layers.0.init_scale=100", "training.on_divergence=record"])
    outcome = run_experiment(cfg, pm=plugins)
    assert outcome.result.diverged and not outcome.result.history
    (run,) = store_runs(tmp_path / "mlflow.db")
    assert run.info.status == "FINISHED" and "harness.diverged" in run.data.tags
    assert "harness.model_id" not in run.data.tags
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.search_logged_models([run.info.experiment_id]) == []

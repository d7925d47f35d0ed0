"""A team's set-up, for real: ``mlflow server`` on a PostgreSQL database with proxied
artifacts, and sweeps of parallel jobs recording into it.

A private PostgreSQL cluster is started in a temporary directory on a loopback port (as
the ``postgres`` user when run as root) and removed afterwards, with the server.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from services import ENV, mlflow_server, postgres_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent
EPOCHS = 2
# Tiny jobs with their plots and checkpoints (artifacts to download), no model logging.
TINY = ["data=blobs", "model.layers.4.units=3", f"training.epochs={EPOCHS}", "progress=never",
        "tracking.log_model=false", "diagnostics.enabled=false", "reports.plots=true"]
CURVES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("server")
    with postgres_cluster() as database, mlflow_server(database, workdir) as url:
        yield url, database


def launch(project: Path, url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "harness-train"), "-m", *TINY, "tracking=server", f"tracking.uri={url}", *args],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
    )


def finish(process: subprocess.Popen, timeout: int = 1500) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def runs_of(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


def count_rows(database: str, table: str) -> int:
    import psycopg

    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return connection.execute(f"select count(*) from {table}").fetchone()[0]


def test_sixteen_parallel_jobs_into_a_postgres_backed_server(server, tmp_path):
    url, database = server
    started = time.perf_counter()
    finish(launch(tmp_path, url, "name=pg16", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "seed=range(16)",
                  f"hydra.sweep.dir={tmp_path / 'multirun'}"))
    seconds = time.perf_counter() - started
    client = MlflowClient(tracking_uri=url)
    (parent,), children = runs_of(client, "pg16")
    print(f"\n16-job joblib sweep (n_jobs=4) into mlflow server on PostgreSQL: {len(children)} children "
          f"under 1 parent in {seconds:.0f} s")
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name == "pg16: seed"  # no tracking URI, no path
    assert len(children) == 16 and {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(int(c.data.params["seed"]) for c in children) == list(range(16))
    for child in children:
        assert child.info.status == "FINISHED"
        for metric in CURVES:
            assert [m.step for m in client.get_metric_history(child.info.run_id, metric)] == list(range(1, EPOCHS + 1))
        assert "test_accuracy" in child.data.metrics
    # The runs are in PostgreSQL itself, not in a local store.
    assert count_rows(database, "runs") == 17
    assert not (tmp_path / "mlflow.db").exists()
    # Artifacts went through the server (proxied) and come back byte for byte.
    child = children[0]
    target = tmp_path / "downloaded"
    local = Path(client.download_artifacts(child.info.run_id, "plots/learning_curves.png", str(target)))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    output_dir = Path(child.data.tags["harness.output_dir"])
    assert local.read_bytes() == (output_dir / "plots" / "learning_curves.png").read_bytes()
    assert {"checkpoint.json"} <= {Path(a.path).name for a in client.list_artifacts(child.info.run_id, "checkpoint")}
    parent_files = {Path(entry.path).name for item in client.list_artifacts(parent.info.run_id)
                    for entry in (client.list_artifacts(parent.info.run_id, item.path) if item.is_dir else [item])}
    assert {"comparison.png", "comparison.csv"} <= parent_files
    # harness compare reads the sweep back from the server.
    compare = subprocess.run([str(BIN / "harness"), "compare", "--uri", url, "--experiment", "pg16",
                              "--out", str(tmp_path / "cmp")], capture_output=True, text=True, timeout=600, env=ENV)
    assert compare.returncode == 0, compare.stderr
    assert sum(1 for line in compare.stdout.splitlines() if line.startswith("| seed=")) == 16
    assert (tmp_path / "cmp" / "comparison.png").is_file()


def test_two_sweeps_at_once_file_every_run_under_its_own_parent(server, tmp_path):
    url, database = server
    started = time.perf_counter()
    sweeps = {
        "a": launch(tmp_path, url, "name=pg_two", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    "seed=range(0,6)", f"hydra.sweep.dir={tmp_path / 'a'}"),
        "b": launch(tmp_path, url, "name=pg_two", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    "seed=range(100,106)", f"hydra.sweep.dir={tmp_path / 'b'}"),
    }
    for process in sweeps.values():
        finish(process)
    seconds = time.perf_counter() - started
    client = MlflowClient(tracking_uri=url)
    parents, children = runs_of(client, "pg_two")
    print(f"\ntwo 6-job sweeps at once into the same experiment: {len(parents)} parents, {len(children)} children "
          f"in {seconds:.0f} s")
    assert len(parents) == 2 and len(children) == 12
    by_parent = {p.info.run_id: [] for p in parents}
    for child in children:
        assert child.info.status == "FINISHED"
        by_parent[child.data.tags["mlflow.parentRunId"]].append(child)
    seeds = sorted(sorted(int(c.data.params["seed"]) for c in kids) for kids in by_parent.values())
    assert seeds == [list(range(6)), list(range(100, 106))]
    for parent in parents:
        assert parent.info.status == "FINISHED"
        kids = by_parent[parent.info.run_id]
        sweep_dir = tmp_path / ("a" if int(kids[0].data.params["seed"]) < 100 else "b")
        assert all(Path(c.data.tags["harness.output_dir"]).parent == sweep_dir.resolve() for c in kids)

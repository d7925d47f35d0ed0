"""A new SQLite store is a copy of an empty one MLflow made once, and is the store MLflow
would have made: same schema, same rows, the default experiment where MLflow puts it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from harness_mlflow import empty_store, sqlite_store


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder, so each test makes its own template."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(folder))
    monkeypatch.setattr(sqlite_store, "_ready", set())
    return folder


def statement_lines(sql: str | None) -> list[str]:
    """A CREATE statement's lines in sorted order: MLflow itself does not create a table's
    constraints in the same order every time (two stores it makes differ there)."""
    return sorted(line.strip().rstrip(",") for line in (sql or "").splitlines())


def contents(path: Path) -> tuple[list, dict]:
    """(schema statements, rows of every table) of an SQLite file."""
    with closing(sqlite3.connect(path)) as db:
        found = db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        schema = sorted(((kind, name, statement_lines(sql)) for kind, name, sql in found), key=str)
        rows = {name: sorted(db.execute(f'SELECT * FROM "{name}"').fetchall(), key=str)
                for kind, name, _ in schema if kind == "table"}
    return schema, rows


def default_experiment(path: Path) -> tuple:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT name, artifact_location, lifecycle_stage, workspace, creation_time "
                          "FROM experiments WHERE experiment_id = 0").fetchone()


@pytest.mark.parametrize("server_root", [None, "file:///srv/artifacts"], ids=["local", "server-root"])
def test_a_copied_store_is_the_store_mlflow_makes(cache, tmp_path, monkeypatch, server_root):
    if server_root:
        monkeypatch.setenv("_MLFLOW_SERVER_ARTIFACT_ROOT", server_root)
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns, resolved here
    made_by_mlflow = tmp_path / "mlflow-made.db"
    MlflowClient(tracking_uri=f"sqlite:///{made_by_mlflow}")
    copied = tmp_path / "project" / "mlflow.db"
    sqlite_store.prepare(f"sqlite:///{copied}", copied)

    assert empty_store.template_path().is_file() and empty_store.template_path().parent == cache / "mlflow"
    schema, rows = contents(copied)
    expected_schema, expected_rows = contents(made_by_mlflow)
    assert schema == expected_schema
    rows.pop("experiments"), expected_rows.pop("experiments")  # creation times differ: compared below
    assert rows == expected_rows
    assert default_experiment(copied)[:4] == default_experiment(made_by_mlflow)[:4]
    if server_root:
        assert default_experiment(copied)[1] == "file:///srv/artifacts/0"
    assert abs(default_experiment(copied)[4] - default_experiment(made_by_mlflow)[4]) < 600_000  # made now, not when the template was


def test_the_second_store_is_copied_without_mlflow_creating_tables(cache, tmp_path, monkeypatch):
    first = tmp_path / "a" / "mlflow.db"
    sqlite_store.prepare(f"sqlite:///{first}", first)

    def no_creation(*args, **kwargs):
        raise AssertionError("MLflow created tables for a store the template could give")

    monkeypatch.setattr("mlflow.store.db.utils._initialize_tables", no_creation)
    second = tmp_path / "b" / "mlflow.db"
    sqlite_store.prepare(f"sqlite:///{second}", second)
    assert sqlite_store.state(second) == sqlite_store.READY

    client = MlflowClient(tracking_uri=f"sqlite:///{second}")  # MLflow works in it as in its own
    run = client.create_run(client.create_experiment("e"))
    client.log_metric(run.info.run_id, "loss", 0.5)
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}


def test_a_damaged_template_is_made_again(cache, tmp_path):
    template = empty_store.template_path()
    template.parent.mkdir(parents=True)
    template.write_text("not a database")
    store = tmp_path / "mlflow.db"
    sqlite_store.prepare(f"sqlite:///{store}", store)
    assert sqlite_store.state(store) == sqlite_store.READY
    assert sqlite_store.state(template) == sqlite_store.READY


def test_an_unusable_cache_folder_falls_back_to_mlflow_creating_the_store(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder cannot be made under a file")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(blocker / "cache"))
    monkeypatch.setattr(sqlite_store, "_ready", set())
    assert empty_store.copy_to(tmp_path / "unused.db") is False
    assert not (tmp_path / "unused.db").exists()
    store = tmp_path / "mlflow.db"
    sqlite_store.prepare(f"sqlite:///{store}", store)
    assert sqlite_store.state(store) == sqlite_store.READY


def test_an_existing_file_is_never_overwritten_by_the_template(cache, tmp_path):
    store = tmp_path / "mlflow.db"
    with closing(sqlite3.connect(store)) as db:  # an SQLite file of someone else's, no MLflow tables
        db.execute("CREATE TABLE mine (x)")
        db.commit()
    sqlite_store.prepare(f"sqlite:///{store}", store)  # MLflow adds its tables beside, as before
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'mine'").fetchone()
    assert not empty_store.template_path().exists()

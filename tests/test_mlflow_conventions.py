"""MLflow's conventions, kept: where the store is, context tags, params, datasets, the
LoggedModel with pinned requirements, run names, the sweep parent's summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient

from conftest import TINY
from harness.errors import ConfigError, HarnessError
from harness.training.experiment import run_experiment
from harness_mlflow import names, requirements, store, wheels
from harness_mlflow.datasets import array_digest, split_inputs
from harness_mlflow.runs import effective_params, run_params
from harness_mlflow.settings import Settings
from harness_mlflow.sweep_summary import summarize

TRACKED = [o for o in TINY if o != "tracking=none"] + ["tracking=mlflow", "name=tiny"]
HARNESS = str(Path(sys.executable).with_name("harness"))
HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))


# ------------------------------------------------------------------ the store


def test_store_resolution_follows_mlflow(tmp_path):
    project = tmp_path / "project dir"
    default = store.resolve_store({}, project, "mnist_98", environ={})
    assert default.uri == f"sqlite:///{project.resolve()}/mlflow.db"
    assert default.artifact_root == (project / "mlartifacts").resolve().as_uri()
    assert default.experiment == "mnist_98"
    env = {"MLFLOW_TRACKING_URI": "sqlite:////other/place/runs.db", "MLFLOW_EXPERIMENT_NAME": "from-env"}
    from_env = store.resolve_store({}, project, "mnist_98", environ=env)
    assert (from_env.uri, from_env.experiment) == ("sqlite:////other/place/runs.db", "from-env")
    assert from_env.artifact_root == Path("/other/place/mlartifacts").as_uri()  # beside the database, nowhere else
    explicit = store.resolve_store({"uri": "http://host:5000", "experiment": "mine"}, project, "mnist_98", environ=env)
    assert (explicit.uri, explicit.artifact_root, explicit.experiment) == ("http://host:5000", None, "mine")
    # Relative paths are MLflow's too (against the current directory), made absolute for the jobs.
    relative = store.resolve_uri(None, project, environ={"MLFLOW_TRACKING_URI": "sqlite:///rel.db"})
    assert relative == f"sqlite:///{Path.cwd().resolve() / 'rel.db'}"
    assert store.resolve_uri("./runs", project, environ={}) == (Path.cwd() / "runs").resolve().as_uri()
    with pytest.raises(ConfigError, match="in-memory"):
        store.resolve_uri("sqlite:///:memory:", project, environ={})


def test_ui_command_is_quoted_for_a_shell(tmp_path):
    project = tmp_path / "my project"
    command = store.resolve_store({}, project, "x", environ={}).ui_command()
    assert command == f"mlflow ui --backend-store-uri 'sqlite:///{project.resolve()}/mlflow.db'"
    assert store.Store("http://h:5000", None, "x").ui_command() == "open http://h:5000 in a browser"


def test_commands_read_the_store_a_run_writes_to(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(HarnessError, match="no MLflow store at sqlite:///.*mlflow.db; run from the project directory, set MLFLOW_TRACKING_URI"):
        store.reading_uri(None)
    other = tmp_path / "elsewhere" / "other.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    with pytest.raises(HarnessError, match=f"no MLflow store at sqlite:///{other}"):
        store.reading_uri(None)
    other.parent.mkdir()
    other.touch()
    assert store.reading_uri(None) == f"sqlite:///{other}"
    assert store.reading_uri("http://h:5000") == "http://h:5000"  # --uri wins


def test_tracking_options_are_checked():
    assert Settings.from_tracking({"backend": "mlflow", "register_model": "digits"}).register_model == "digits"
    with pytest.raises(ConfigError, match="tracking: unknown option 'bundle_wheel'; accepted: backend, uri"):
        Settings.from_tracking({"bundle_wheel": False})
    with pytest.raises(ConfigError, match="tracking.register_model must be a non-empty string or null, got 3"):
        Settings.from_tracking({"register_model": 3})
    with pytest.raises(ConfigError, match="tracking.bundle_wheels must be"):
        Settings.from_tracking({"bundle_wheels": "sometimes"})


# --------------------------------------------------------------- names, params


def test_run_names_leave_out_where_runs_are_stored():
    overrides = ["tracking.uri=sqlite:////tmp/x.db", "paths.output_dir=/tmp/o", "optimizer.lr=0.1", "+budget=time",
                 "hydra.launcher.n_jobs=2", "seed=1"]
    assert names.readable(overrides) == ["optimizer.lr=0.1", "+budget=time", "seed=1"]
    assert names.child_name(overrides, ["optimizer.lr", "budget", "tracking.uri"], "x") == "optimizer.lr=0.1 +budget=time"
    from harness.cli.train import run_name_from_overrides

    assert run_name_from_overrides(["tracking.uri=sqlite:////tmp/x.db", "data.train_size=2000"]) == "data.train_size=2000"


def test_params_are_the_experiment_plus_what_the_run_really_used():
    params = {"optimizer.lr": "0.1", "paths.output_dir": "/o", "paths.project_dir": "/p", "tracking.uri": "None",
              "resume": "None", "progress": "never", "gd.batch_size": "64"}
    assert run_params(params) == {"optimizer.lr": "0.1", "gd.batch_size": "64"}
    assert effective_params({"train": 500, "val": 100, "test": 10000}, 500, 1) == {
        "effective.train_size": "500", "effective.val_size": "100", "effective.test_size": "10000",
        "effective.batch_size": "500", "effective.steps_per_epoch": "1"}


# ------------------------------------------------------------------ datasets


def test_splits_become_datasets_with_the_pinned_digest_or_a_full_one():
    x, y = np.zeros((20, 3), np.float32), np.arange(20) % 2
    plain = SimpleNamespace(train_x=x, train_y=y, val_x=x[:5], val_y=y[:5], test_x=x[:7], test_y=y[:7])
    made = split_inputs(plain, "blobs")
    assert [(m.split, m.name) for m in made] == [("train", "blobs/train"), ("val", "blobs/val"), ("test", "blobs/test")]
    assert made[0].digest == array_digest(x, y)
    changed = x.copy()
    changed[15, 2] = 1.0  # beyond what MLflow's own digest would look at for a large set: still a new digest
    assert array_digest(changed, y) != made[0].digest
    Provenance = SimpleNamespace
    pinned = SimpleNamespace(**vars(plain), provenance={
        split: Provenance(name=f"mnist/{split}", digest=f"{split}-sha", source="https://example.org/mnist.gz")
        for split in ("train", "val", "test")})
    made = split_inputs(pinned, "mnist")
    assert [(m.name, m.digest) for m in made] == [("mnist/train", "train-sha"), ("mnist/val", "val-sha"), ("mnist/test", "test-sha")]
    assert made[0].dataset.source.to_dict() == {"url": "https://example.org/mnist.gz"}


# ----------------------------------------------------------- a recorded run


def _only_run(tmp_path):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, experiment, run


def test_a_run_has_context_tags_no_paths_effective_values_and_dataset_inputs(compose_config, plugins, tmp_path):
    run = run_experiment(compose_config([*TRACKED, "tracking.log_model=false", "gd=batch"]), pm=plugins)
    client, _, recorded = _only_run(tmp_path)
    tags = recorded.data.tags
    assert tags["mlflow.user"] and tags["mlflow.source.name"] and tags["mlflow.source.type"] == "LOCAL"
    assert not [k for k in recorded.data.params if k.startswith(("paths.", "tracking."))]
    assert recorded.data.params["gd.mode"] == "batch"
    assert recorded.data.params["effective.batch_size"] == str(run.run.sizes["train"])  # full batch: the whole training set
    assert recorded.data.params["effective.train_size"] == str(run.run.sizes["train"])
    inputs = {[t.value for t in d.tags if t.key == "mlflow.data.context"][0]: d.dataset for d in recorded.inputs.dataset_inputs}
    assert sorted(inputs) == ["test", "training", "validation"]
    assert inputs["training"].name == "blobs-train"  # the dataset plugin's provenance: name, pinned digest, source
    assert inputs["training"].digest == outcome_data_digest(compose_config, "train")
    assert json.loads(inputs["training"].source)["tags"]["harness.data.source"] == "synthetic:blobs"
    assert json.loads(inputs["test"].profile)["features_shape"][0] == run.run.sizes["test"]


def outcome_data_digest(compose_config, split: str) -> str:
    from harness_datasets import Blobs

    return Blobs().load().provenance[split].digest


def test_git_commit_comes_from_the_project_checkout(compose_config, plugins, tmp_path, monkeypatch):
    from mlflow.tracking.context.git_context import GitRunContext

    monkeypatch.setattr(GitRunContext, "in_context", lambda self: False)  # the launched script is in no checkout
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "start"], check=True)
    commit = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    run_experiment(compose_config([*TRACKED, "tracking.log_model=false"]), pm=plugins)
    _, _, recorded = _only_run(tmp_path)
    assert recorded.data.tags["mlflow.source.git.commit"] == commit


def test_the_model_is_a_logged_model_of_the_run_with_pinned_requirements(compose_config, plugins, tmp_path, monkeypatch):
    run = run_experiment(compose_config([*TRACKED, "tracking.register_model=tiny-digits"]), pm=plugins)
    client, experiment, recorded = _only_run(tmp_path)
    (model,) = client.search_logged_models([experiment.experiment_id])
    assert model.source_run_id == recorded.info.run_id and model.status == LoggedModelStatus.READY
    assert recorded.data.tags["harness.model_id"] == model.model_id
    assert [o.model_id for o in recorded.outputs.model_outputs] == [model.model_id]
    linked = {m.key: m for m in model.metrics}
    assert linked["test_accuracy"].value == pytest.approx(run.summary["test_accuracy"])
    assert linked["test_accuracy"].dataset_name == "blobs-test"
    best_step = run.summary["best_epoch"] + 1  # the epoch whose weights the model has
    assert linked["val_accuracy"].step == best_step
    assert linked["val_accuracy"].value == pytest.approx(run.history[run.summary["best_epoch"]]["val_accuracy"])
    version = client.get_model_version("tiny-digits", "1")
    assert version.run_id == recorded.info.run_id

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")  # models:/ goes through it
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{model.model_id}", dst_path=str(tmp_path / "m")))
    mlmodel = (folder / "MLmodel").read_text()
    assert f"run_id: {recorded.info.run_id}" in mlmodel and f"model_id: {model.model_id}" in mlmodel
    lines = (folder / "requirements.txt").read_text().split()
    assert lines[:2] == [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"]
    (wheel,) = [line for line in lines[2:]]
    assert wheel.startswith("code/harness_backprop-") and wheel.endswith("-py3-none-any.whl")  # an editable checkout: bundled
    assert (folder / wheel).is_file()
    with zipfile.ZipFile(folder / wheel) as bundled:
        assert "harness_mlflow/pyfunc_model.py" in bundled.namelist()
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    from harness_datasets import Blobs

    test = Blobs().load()
    assert (loaded.predict(test.test_x.astype(np.float32)) == run.result.test_predictions).mean() > 0.95


# ------------------------------------------------------ requirements, wheels


def test_requirements_name_the_distributions_of_the_model_components(plugins):
    from harness.registry import Registry

    registry = Registry(plugins)
    layers = [{"type": "dense", "units": 4}, {"type": "residual", "layers": [{"type": "dense", "units": 4}, {"type": "relu"}]}]
    assert requirements.component_plugins(registry, "backprop", layers, "softmax_cross_entropy") == {"backprop"}
    Info = SimpleNamespace
    infos = {"backprop": Info(distribution="harness-backprop"), "example": Info(distribution="harness-example-plugin")}
    assert requirements.model_distributions(registry, infos, "backprop", layers, "softmax_cross_entropy") == ["harness-backprop"]
    pinned = requirements.pin(["harness-backprop"], bundle=False)
    assert [p.requirement for p in pinned] == [f"harness-backprop=={distribution('harness-backprop').version}"]


def test_a_local_source_is_built_once_and_cached_by_its_state(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "tinypkg"
    (source / "tinypkg").mkdir(parents=True)
    (source / "tinypkg" / "__init__.py").write_text("VALUE = 1\n")
    (source / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                                           '[project]\nname = "tinypkg"\nversion = "0.3"\n')
    (source / "outputs").mkdir()
    (source / "outputs" / "noise.txt").write_text("a run's output")
    files = wheels.source_files(source)
    assert source / "outputs" / "noise.txt" not in files and source / "tinypkg" / "__init__.py" in files
    dist = SimpleNamespace(metadata={"Name": "tinypkg"}, version="0.3",
                           read_text=lambda name: json.dumps({"url": source.as_uri(), "dir_info": {"editable": True}}))
    first = wheels.wheel_for(dist)
    assert first.name == "tinypkg-0.3-py3-none-any.whl" and first.is_relative_to(tmp_path / "cache" / "harness" / "wheels")
    assert not (source / "build").exists()  # built from a copy
    assert wheels.wheel_for(dist) == first  # cached
    (source / "outputs" / "noise.txt").write_text("another output")
    assert wheels.wheel_for(dist) == first  # outputs are not the source
    (source / "tinypkg" / "__init__.py").write_text("VALUE = 2\n")
    second = wheels.wheel_for(dist)
    assert second != first and b"VALUE = 2" in zipfile.ZipFile(second).read("tinypkg/__init__.py")
    index = SimpleNamespace(metadata={"Name": "numpy"}, version="2", read_text=lambda name: None)
    assert wheels.wheel_for(index) is None  # from the package index: named, not bundled


# --------------------------------------------------------------- sweeps


def _child(name, status, metrics, start):
    return SimpleNamespace(info=SimpleNamespace(run_name=name, run_id=name + "-id", status=status, start_time=start),
                           data=SimpleNamespace(metrics=metrics))


def test_the_sweep_summary_selects_on_validation_not_on_test():
    children = [
        _child("lr=0.1", "FINISHED", {"best_val_accuracy": 0.97, "test_accuracy": 0.95, "test_loss": 0.2}, 1),
        _child("lr=1", "FINISHED", {"best_val_accuracy": 0.96, "test_accuracy": 0.99, "test_loss": 0.1}, 2),
        _child("lr=10", "FAILED", {}, 3),
    ]
    summary = summarize(children)
    assert summary.metrics == {"children_finished": 2.0, "children_failed": 1.0, "best_val_accuracy": 0.97,
                               "test_accuracy": 0.95, "test_loss": 0.2}
    assert summary.tags == {"harness.best_child": "lr=0.1", "harness.best_child_run_id": "lr=0.1-id"}
    assert "**lr=0.1**" in summary.note and "2 of 3" in summary.note


# ------------------------------------------------- MLFLOW_TRACKING_URI end to end


@pytest.mark.slow
def test_mlflow_tracking_uri_is_where_runs_go_and_where_compare_looks(tmp_path):
    project, other = tmp_path / "project", tmp_path / "other"
    project.mkdir()
    other.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{other / 'runs.db'}", "MLFLOW_EXPERIMENT_NAME": "env-exp"}
    quick = ["data=blobs", "model.layers.4.units=3", "training.epochs=2", "progress=never", "tracking.log_model=false"]
    done = subprocess.run([HARNESS_TRAIN, *quick, f"hydra.run.dir={project / 'out'}"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()
    client = MlflowClient(f"sqlite:///{other / 'runs.db'}")
    (recorded,) = client.search_runs([client.get_experiment_by_name("env-exp").experiment_id])
    assert recorded.info.artifact_uri.startswith((other / "mlartifacts").as_uri())
    assert "tracking.uri" not in recorded.info.run_name and "sqlite" not in recorded.info.run_name
    shown = subprocess.run([HARNESS, "compare", "--all", "--out", str(tmp_path / "cmp")], cwd=project, env=env,
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert recorded.info.run_name in shown.stdout
    missing = subprocess.run([HARNESS, "runs", "repair"], cwd=project, capture_output=True, text=True, timeout=300,
                             env={k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"})
    assert missing.returncode == 2 and "no MLflow store at sqlite:///" in missing.stderr

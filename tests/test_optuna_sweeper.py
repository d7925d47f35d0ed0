"""Search sweeps: ``hydra/sweeper=harness_optuna`` runs an Optuna study through the launcher,
each trial a child run of one parent, failures told to Optuna, the study resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from harness.errors import ConfigError
from hydra_plugins.harness_optuna_sweeper._search_space import parse

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
FAULT_PLUGIN = Path(__file__).resolve().parent / "fixtures" / "fault_plugin"
QUICK = ["data=blobs", "model.layers.4.units=3", "training.epochs=2", "progress=never", "name=search",
         "tracking.log_model=false", "diagnostics.enabled=false", "reports.plots=false", "training.checkpoint_every=0",
         "hydra/sweeper=harness_optuna"]


def test_search_space_from_hydra_override_grammar():
    space = parse({"optimizer.lr": "tag(log, interval(0.001, 1.0))", "gd.batch_size": "choice(32, 64)",
                   "+deep.width": "range(8, 33, 8)", "training.epochs": "3"}, ["optimizer.momentum=interval(0.5,0.99)"])
    d = space.distributions
    assert d["optimizer.lr"] == optuna.distributions.FloatDistribution(0.001, 1.0, log=True)
    assert d["optimizer.momentum"] == optuna.distributions.FloatDistribution(0.5, 0.99)
    assert d["gd.batch_size"] == optuna.distributions.CategoricalDistribution([32, 64])
    assert d["deep.width"] == optuna.distributions.IntDistribution(8, 32, step=8)  # stop excluded, as in Hydra
    assert space.fixed == ["training.epochs=3"]
    overrides = space.overrides({"optimizer.lr": 0.1234567890123, "gd.batch_size": 64, "deep.width": 16,
                                 "optimizer.momentum": 0.9})
    assert overrides == ["training.epochs=3", "optimizer.lr=0.1234567890123", "gd.batch_size=64", "+deep.width=16",
                         "optimizer.momentum=0.9"]


@pytest.mark.parametrize("params, message", [
    ({"training.epochs": "3"}, "needs at least one parameter to search"),
    ({"optimizer.lr": "tag(log, interval(0, 1))"}, "low > 0 on a log scale"),
    ({"optimizer.lr": "interval(1, 0.5)"}, "needs low < high"),
    ({"seed": "range(5, 1)"}, "is empty"),
])
def test_bad_search_spaces_are_one_line_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        parse(params, [])


def search(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([HARNESS_TRAIN, "-m", *QUICK, *args, f"hydra.sweep.dir={project / 'multirun'}"],
                          cwd=project, capture_output=True, text=True, timeout=900,
                          env=env or {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})


def runs_of(project: Path):
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("search").experiment_id], max_results=100)
    return client, [r for r in runs if r.data.tags.get("harness.sweep") == "parent"], \
        [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def artifact_paths(client: MlflowClient, run_id: str) -> dict[str, str]:
    """File name -> artifact path, one folder deep."""
    found = {}
    for item in client.list_artifacts(run_id):
        for entry in client.list_artifacts(run_id, item.path) if item.is_dir else [item]:
            found[Path(entry.path).name] = entry.path
    return found


def study_of(project: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{project / 'optuna.db'}")


@pytest.mark.slow
@pytest.mark.parametrize("on_divergence", ["fail", "record"])
def test_study_trials_are_children_of_one_parent_failures_are_told_and_the_best_is_tagged(tmp_path, on_divergence):
    # Plain SGD: lr 1e9 diverges at once; repeated values exercise the skip of identical configs.
    result = search(tmp_path, "optimizer=sgd", "hydra.sweeper.n_trials=6", "hydra.sweeper.study_name=s",
                    "optimizer.lr=choice(0.05, 0.2, 1e9)", f"training.on_divergence={on_divergence}")
    assert "training diverged" in result.stdout + result.stderr
    # A recorded divergence is an outcome, not a failed job: the sweep succeeds.
    assert result.returncode == (0 if on_divergence == "record" else 1), result.stderr[-3000:]
    client, (parent,), children = runs_of(tmp_path)
    study = study_of(tmp_path, "s")
    states = [t.state for t in study.trials]
    assert len(states) == 6 and optuna.trial.TrialState.FAIL in states and optuna.trial.TrialState.COMPLETE in states
    for trial in study.trials:  # a trial fails exactly when its learning rate diverges
        assert (trial.state == optuna.trial.TrialState.FAIL) == (trial.params["optimizer.lr"] == 1e9)
        assert trial.value is None or 0 < trial.value <= 1
    assert parent.info.run_name == "search: optimizer.lr"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    diverged = "FINISHED" if on_divergence == "record" else "FAILED"
    assert all(c.info.status == (diverged if c.data.params["optimizer.lr"] == "1000000000.0" else "FINISHED")
               for c in children)
    assert parent.info.status == ("FINISHED" if on_divergence == "record" else "FAILED")
    tags = parent.data.tags
    best = study.trials[int(tags["optuna.best_trial"])]
    assert tags["optuna.study_name"] == "s" and best.value == study.best_value
    assert float(tags["optuna.best_value"]) == best.value and best.user_attrs["harness.status"] == "FINISHED"
    assert float(tags["optuna.best_params.optimizer.lr"]) == best.params["optimizer.lr"]
    (best_run,) = [c for c in children if c.data.tags["harness.sweep_job"] == tags["optuna.best_job"]]
    assert best_run.data.metrics["best_val_accuracy"] == best.value
    artifacts = artifact_paths(client, parent.info.run_id)  # at the top or in sweep_summary/, as the core files them
    assert {"optuna_study.png", "optuna_trials.csv"} <= set(artifacts)
    png = Path(client.download_artifacts(parent.info.run_id, artifacts["optuna_study.png"], str(tmp_path / "dl")))
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_study_whose_sweep_was_killed_resumes_where_it_stopped(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"0": {"kind": "sigkill", "at_step": 2}}))  # the whole sweep dies in trial 0
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULT_PLUGIN), os.environ.get("PYTHONPATH")]))}
    args = ["hydra.sweeper.n_trials=2", "optimizer.lr=interval(0.05, 0.2)", "seed=0",
            f"+faults.plan={plan}"]
    killed = search(tmp_path, *args, env=env)
    assert killed.returncode == -9
    (running,) = study_of(tmp_path, _study_name(tmp_path)).trials
    assert running.state == optuna.trial.TrialState.RUNNING

    plan.write_text("{}")
    again = search(tmp_path, *args, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 of 2 trials done, 1 left by a dead sweep will run again" in again.stdout + again.stderr
    trials = study_of(tmp_path, _study_name(tmp_path)).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    # The killed trial's configuration ran again first; the next one is a new proposal.
    assert trials[1].user_attrs["harness.rerun_of"] == 0 and trials[1].params == trials[0].params
    assert trials[2].params != trials[0].params
    _, (parent,), children = runs_of(tmp_path)
    assert parent.info.status == "FINISHED" and len(children) == 3
    assert sorted(c.info.status for c in children) == ["FINISHED", "FINISHED", "RUNNING"]  # until `harness runs repair`
    # Raising n_trials continues the same study.
    more = search(tmp_path, *[a.replace("n_trials=2", "n_trials=3") for a in args], env=env)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "2 of 3 trials done" in more.stdout + more.stderr
    assert len(study_of(tmp_path, _study_name(tmp_path)).trials) == 4


def _study_name(project: Path) -> str:
    (name,) = optuna.study.get_all_study_names(storage=f"sqlite:///{project / 'optuna.db'}")
    return name


def test_job_outcomes_told_to_optuna(tmp_path):
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    from hydra_plugins.harness_optuna_sweeper._study import outcome

    def job(value=None, error=None, record=None):
        """A JobReturn as a launcher hands it back; ``record``: the job's harness_job.json."""
        result = JobReturn()
        result.status, result._return_value = (JobStatus.FAILED, error) if error else (JobStatus.COMPLETED, value)
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        if record is not None:
            (folder / "harness_job.json").write_text(json.dumps(record))
        result.hydra_cfg = OmegaConf.create({"hydra": {"runtime": {"output_dir": str(folder)}, "job": {"num": 0}}})
        return result

    assert outcome(job({"best_val_accuracy": 0.97}), "best_val_accuracy")[0] == 0.97
    assert outcome(job({"best_val_accuracy": 0.9}, record={"status": "SKIPPED"}), "best_val_accuracy")[0] == 0.9
    for failed in (job(None, record={"status": "FAILED", "error": "training diverged: ..."}),
                   job({"best_val_accuracy": 0.1, "diverged_step": 12.0}),  # training.on_divergence=record
                   job({"best_val_accuracy": float("nan")}),
                   job({"test_accuracy": 0.9}), job(0.98), job(None), job(error=RuntimeError("boom"))):
        value, reported = outcome(failed, "best_val_accuracy")
        assert value is None and reported.get("error"), reported
    assert outcome(job(None, record={"status": "FAILED", "error": "training diverged: x"}), "m")[1]["error"] == \
        "training diverged: x"
    assert outcome(job({"diverged_step": 12.0}), "m")[1]["error"] == "training diverged at step 12"

"""The lessons plugin in real runs: the LR range test, loss-per-evaluation curves, the graph.

Runs train on the tiny blobs set (see ``conftest.TINY``) through the real loop and hooks:
the range test must see a rate that rises every few steps, stop the run FINISHED once the
loss explodes, suggest a rate and attach its plot; random search must get its closure and
spend two loss evaluations per step; a scalar-engine run must leave its graph.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY
from harness.errors import ConfigError
from harness.training.experiment import run_experiment
from harness_lessons import evaluations
from harness_lessons.runs import compare_runs

RANGE = [*TINY, "schedule=lr_range", "optimizer=sgd", "optimizer.lr=1e-4", "schedule.max_lr=1e4", "schedule.stages=16",
         "training.epochs=4", "training.on_divergence=record", "data.n_samples=2400"]


def test_range_test_raises_the_rate_every_few_steps_stops_when_the_loss_explodes_and_suggests(compose_config, plugins):
    outcome = run_experiment(compose_config(RANGE), pm=plugins)
    result = outcome.result
    folder = Path(outcome.run.output_dir) / "lr_range"
    record = json.loads((folder / "lr_range.json").read_text())
    rates = record["lr"]
    assert len(set(rates)) > 5, "the rate must change every few steps, not once per epoch"
    assert all(b >= a for a, b in zip(rates, rates[1:]))
    assert result.status == "FINISHED" and not result.diverged
    assert result.stopped_by and result.stopped_by.startswith("lr_range: the loss exploded at lr")
    assert len(rates) < 4 * outcome.run.steps_per_epoch  # stopped before the schedule ran out
    assert record["exploded_at_lr"] == rates[-1]
    assert result.summary["suggested_lr"] == pytest.approx(rates[-1] / 10) == pytest.approx(record["suggested_lr"])
    assert folder / "lr_range.png" in result.artifacts and (folder / "lr_range.png").read_bytes()[:4] == b"\x89PNG"


def test_range_test_refuses_a_max_lr_below_the_start(compose_config, plugins):
    with pytest.raises(ConfigError, match=r"schedule.max_lr must be above optimizer.lr \(0.1\)"):
        run_experiment(compose_config([*TINY, "schedule=lr_range", "optimizer.lr=0.1", "schedule.max_lr=0.05"]), pm=plugins)


def test_random_search_spends_two_loss_evaluations_per_step_through_the_closure(compose_config, plugins):
    overrides = [*TINY, "optimizer=random_search", "optimizer.lr=0.05", "+lessons.loss_curve=true", "training.epochs=2"]
    outcome = run_experiment(compose_config(overrides), pm=plugins)
    curve = evaluations.read(outcome.run.output_dir)
    steps = 2 * outcome.run.steps_per_epoch
    assert curve["optimizer"] == "random_search" and curve["evaluations_per_step"] == 2
    assert curve["evaluations"] == [2 * s for s in range(1, steps + 1)]
    assert curve["epoch_evaluations"] == [2 * outcome.run.steps_per_epoch, 2 * steps]
    assert outcome.summary["test_accuracy"] == curve["test_accuracy"]
    assert len(curve["loss"]) == steps and np.isfinite(curve["loss"]).all()


def test_random_vs_gradient_matches_loss_evaluations_and_draws_one_plot(compose_config, plugins, tmp_path):
    records, curves = [], []
    for method in ("sgd", "random_search"):
        cfg = compose_config(["+experiment=random_vs_gradient", f"method={method}", "tracking=none", "progress=never",
                              "data=blobs", "~data.train_size", "model.layers.2.units=3", "diagnostics.enabled=false",
                              f"paths.output_dir={tmp_path / method}"])
        outcome = run_experiment(cfg, pm=plugins, run_name=f"method={method}")
        records.append(outcome)
        curves.append(evaluations.read(outcome.run.output_dir))
    sgd, random = curves
    assert sgd["evaluations"][-1] == random["evaluations"][-1]  # the experiment's point: the same budget
    assert sgd["evaluations_per_step"] == 1 and random["evaluations_per_step"] == 2

    from harness import RunRecord

    runs = [RunRecord(name=o.run.name, status="FINISHED", dir=o.run.output_dir) for o in records]
    (plot,) = compare_runs(runs, tmp_path / "comparison")
    assert plot.name == "loss_per_evaluation.png" and plot.read_bytes()[:4] == b"\x89PNG"
    assert compare_runs([RunRecord(name="other", status="FINISHED", dir=tmp_path)], tmp_path / "none") == []


def test_a_scalar_run_can_leave_its_computational_graph(compose_config, plugins):
    overrides = ["+experiment=scalar_graph", "tracking=none", "progress=never", "training.epochs=2"]
    outcome = run_experiment(compose_config(overrides), pm=plugins)
    folder = Path(outcome.run.output_dir) / "graph"
    source = (folder / "computational_graph.dot").read_text()
    for name in ("x0", "x1", "0.dense.W[1,3]", "0.dense.b[2]", "2.dense.W[3,1]", "logit 0", "loss"):
        assert f"{name}|data" in source, name
    assert folder / "computational_graph.dot" in outcome.result.artifacts
    drawn = folder / "computational_graph.svg"
    assert (drawn in outcome.result.artifacts) == drawn.is_file()  # drawn when Graphviz is installed


def test_the_graph_needs_the_scalar_engine(compose_config, plugins):
    with pytest.raises(ConfigError, match="lessons.graph draws the scalar engine's Value graph: set engine=scalar"):
        run_experiment(compose_config([*TINY, "+lessons.graph=true"]), pm=plugins)


def test_an_unknown_lessons_option_is_refused(compose_config, plugins):
    with pytest.raises(ConfigError, match="lessons: unknown option 'grpah'"):
        run_experiment(compose_config([*TINY, "+lessons.grpah=true"]), pm=plugins)


def test_a_graph_too_big_is_skipped_with_a_warning(compose_config, plugins, caplog):
    overrides = ["+experiment=scalar_graph", "tracking=none", "progress=never", "training.epochs=1", "+lessons.graph_max_nodes=10"]
    outcome = run_experiment(compose_config(overrides), pm=plugins)
    assert not (Path(outcome.run.output_dir) / "graph").exists()
    assert "more than lessons.graph_max_nodes=10" in caplog.text

"""The diagnostics plugin: its numbers, its schedule, that it leaves training alone,
its MLflow metrics and plots, and the sweep summary."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import TINY, read_records
from harness import ConfigError
from harness.registry import Registry
from harness.training.experiment import run_experiment
from harness_backprop import BackpropEngine
from harness_diagnostics import Probe, Recorder, parse
from harness_diagnostics import plugin as diagnostics_plugin
from harness_diagnostics.probe import GRAD, INPUT_GRAD, INPUT_RATIO, RATIO, UPDATE, weight_names
from harness_diagnostics.probe import tracked as tracked_name
from harness_diagnostics.settings import Settings, from_config
from harness_diagnostics.stats import SIGMOID_LIMIT, TANH_LIMIT, dead_fraction, saturated_fraction, update_ratio
from harness_diagnostics.summary import describe, summarize_records

PNG = b"\x89PNG\r\n\x1a\n"
# blobs: 6 steps per epoch, 18 in 3 epochs; the reports plugin's plots only cost time here
EVERY_5 = [*TINY, "++diagnostics.every_steps=5", "reports.plots=false"]
NO_PLOTS = "++diagnostics.plots=false"
STATEFUL = (  # batch norm running statistics and a dropout generator: state a probe could disturb
    "model.layers=[{type: dense, units: 16}, {type: batch_norm}, {type: relu}, {type: dropout, rate: 0.3},"
    " {type: residual, layers: [{type: dense, units: 16}, {type: tanh}]}, {type: dense, units: 3}]"
)


# ------------------------------------------------------------------ settings


def test_settings_default_when_the_config_has_no_section():
    class Bare:  # a config object from before plugin sections existed
        pass

    assert from_config(Bare()) == Settings()
    assert Settings().every_steps == 100 and Settings().enabled


@pytest.mark.parametrize("options, message", [
    ({"every_steps": 0}, "diagnostics.every_steps must be an integer >= 1, got 0"),
    ({"probe_size": 2.5}, "diagnostics.probe_size must be an integer >= 1, got 2.5"),
    ({"enabled": "yes"}, "diagnostics.enabled must be true or false, got 'yes'"),
    ({"plots": "sometimes"}, "diagnostics.plots must be true, false or auto, got 'sometimes'"),
    ({"every": 5}, "diagnostics: unknown option 'every'; accepted: enabled, every_steps, probe_size, plots, profile_step, summary"),
])
def test_bad_settings_are_one_line_errors_naming_the_option(options, message):
    with pytest.raises(ConfigError) as excinfo:
        parse(options)
    assert str(excinfo.value) == message


def test_a_bad_setting_stops_the_run_before_training(compose_config, plugins):
    with pytest.raises(ConfigError, match="^diagnostics.every_steps must be an integer >= 1, got -3$"):
        run_experiment(compose_config([*TINY, "++diagnostics.every_steps=-3"]), pm=plugins)


# --------------------------------------------------------------------- stats


def test_dead_units_are_those_never_positive_over_the_batch():
    out = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, -0.1]])
    assert dead_fraction(out) == 0.5


def test_saturation_means_a_derivative_below_five_percent_of_its_peak():
    s = SIGMOID_LIMIT
    assert s * (1 - s) == pytest.approx(0.05 * 0.25)
    assert pytest.approx(0.05) == 1 - TANH_LIMIT**2
    assert saturated_fraction("sigmoid", np.array([[0.001, 0.5, 0.999, 0.3]])) == 0.5
    assert saturated_fraction("tanh", np.array([[0.99, -0.99, 0.1, -0.5]])) == 0.5


def test_update_ratio_is_the_relative_size_of_one_step():
    before = np.array([[3.0, 4.0]])
    assert update_ratio(before, before + [[0.003, 0.004]]) == pytest.approx(1e-3)
    assert update_ratio(np.zeros(2), np.zeros(2)) == 0.0


# --------------------------------------------------------------------- probe


def tiny_model(plugins, specs=None, dtype=np.float64):
    from harness.model import build_layers, build_loss

    registry = Registry(plugins)
    specs = specs or [
        {"type": "dense", "units": 6}, {"type": "batch_norm"}, {"type": "relu"}, {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 6}, {"type": "sigmoid"}, {"type": "dense", "units": 3},
    ]
    loss = build_loss(registry, "backprop", "softmax_cross_entropy", {})
    model = BackpropEngine().build_model(build_layers(registry, "backprop", specs), loss, input_dim=4,
                                         rng=np.random.default_rng(0), dtype=dtype)
    rng = np.random.default_rng(3)
    return model, rng.standard_normal((16, 4)), rng.integers(0, 3, 16)


def snapshot(model) -> dict:
    state = {}
    for name, layer in zip(model.layer_names, model.layers):
        for group in ("params", "grads", "buffers"):
            for key, value in getattr(layer, group, {}).items():
                state[f"{name}/{group}/{key}"] = value.copy()
        if hasattr(layer, "rng"):
            state[f"{name}/rng"] = layer.rng.bit_generator.state["state"]["state"]
    return state


def test_the_probe_leaves_weights_gradients_statistics_and_generators_alone(plugins):
    model, x, y = tiny_model(plugins)
    model.train_batch(x, y)
    before = snapshot(model)
    Probe(BackpropEngine(), model.loss, x, y).measure(model.layers, model.layer_names)
    after = snapshot(model)
    assert before.keys() == after.keys()
    for key in before:
        assert np.array_equal(before[key], after[key]), key


def test_probe_gradients_are_the_models_own_backward_pass(plugins):
    specs = [{"type": "dense", "units": 6}, {"type": "tanh"}, {"type": "dense", "units": 5},
             {"type": "sigmoid"}, {"type": "dense", "units": 3}]
    model, x, y = tiny_model(plugins, specs)
    metrics = Probe(BackpropEngine(), model.loss, x, y).measure(model.layers, model.layer_names)
    model.layers[0].needs_input_grad = True  # the model skips the gradient of its input; the probe does not
    model.loss.forward(model.forward(x, True), y)
    grad = model.loss.backward()
    for name, layer in reversed(list(zip(model.layer_names, model.layers))):
        grad = layer.backward(grad)
        assert metrics[f"{INPUT_GRAD}/{name}"] == pytest.approx(np.linalg.norm(grad), rel=1e-12)
        for key, value in layer.grads.items():
            assert metrics[f"{GRAD}/{name}.{key}"] == pytest.approx(np.linalg.norm(value), rel=1e-12)
    first, last = weight_names(model.layers, model.layer_names)[0], weight_names(model.layers, model.layer_names)[-1]
    assert (first, last) == ("0.dense.W", "4.dense.W")
    assert metrics[RATIO] == pytest.approx(metrics[f"{GRAD}/{first}"] / metrics[f"{GRAD}/{last}"])
    assert metrics[INPUT_RATIO] == pytest.approx(metrics[f"{INPUT_GRAD}/0.dense"] / metrics[f"{INPUT_GRAD}/4.dense"])
    assert set(k.split("/")[0] for k in metrics) >= {"act_mean", "act_std", "saturated_fraction", "probe_loss"}


def test_recorder_measures_at_step_zero_and_every_n_steps_with_update_ratios(plugins):
    model, x, y = tiny_model(plugins)
    recorder = Recorder(model, Probe(BackpropEngine(), model.loss, x, y), Settings(every_steps=3))
    weight = model.layers[0].params["W"]
    recorder.start(0)
    for step in range(1, 8):
        if step == 3:
            before = weight.copy()
            weight += 0.01
        recorder.after_step(step)
    assert [r["step"] for r in recorder.records] == [0, 3, 6]
    assert not any(k.startswith(UPDATE) for k in recorder.records[0])
    expected = np.linalg.norm(np.full_like(before, 0.01)) / np.linalg.norm(before)
    assert recorder.records[1][f"{UPDATE}/0.dense.W"] == pytest.approx(expected)
    assert recorder.records[2][f"{UPDATE}/0.dense.W"] == 0.0  # nothing moved during step 6


def test_a_failing_probe_is_reported_and_update_ratios_go_on(plugins, caplog):
    model, x, y = tiny_model(plugins)

    class BrokenEngine(BackpropEngine):
        def layer_gradients(self, layer, x, upstream):
            raise RuntimeError("no adapter")

    recorder = Recorder(model, Probe(BrokenEngine(), model.loss, x, y), Settings(every_steps=1))
    with caplog.at_level(logging.WARNING, logger="harness.diagnostics"):
        recorder.start(0)
        recorder.after_step(1)
    assert "the probe failed (RuntimeError: no adapter)" in caplog.text
    assert recorder.probe is None
    assert f"{UPDATE}/0.dense.W" in recorder.records[1] and RATIO not in recorder.records[1]


# ---------------------------------------------------------------- in a run


def test_a_run_keeps_its_records_with_every_metric(compose_config, plugins, tmp_path):
    run = run_experiment(compose_config([*EVERY_5, NO_PLOTS]), pm=plugins)
    records = read_records(tmp_path / "out")
    assert [r["step"] for r in records] == [0, 5, 10, 15]
    last = records[-1]
    for name in ("0.dense", "2.dense", "4.dense"):
        assert last[f"{GRAD}/{name}.W"] > 0 and math.isfinite(last[f"{UPDATE}/{name}.W"])
    assert {f"dead_fraction/{n}" for n in ("1.relu", "3.relu")} <= last.keys()
    assert {f"{INPUT_GRAD}/{n}" for n in run.model.layer_names} <= last.keys()


def test_diagnostics_do_not_change_what_training_computes(compose_config, plugins, tmp_path):
    def train(folder, *extra):
        run = run_experiment(compose_config([*TINY, STATEFUL, "data.spread=3.0", "reports.plots=false", NO_PLOTS,
                                             f"paths.output_dir={tmp_path / folder}", *extra]), pm=plugins)
        return run, [value.copy() for _, value, _ in run.model.named_parameters()]

    watched, watched_weights = train("watched", "++diagnostics.every_steps=1")
    plain, plain_weights = train("plain", "++diagnostics.enabled=false")
    assert len(read_records(tmp_path / "watched")) == 19 and not (tmp_path / "plain" / "diagnostics").exists()
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("epoch_seconds", "samples_per_second")} for e in h]
    assert strip(watched.history) == strip(plain.history)
    assert all(np.array_equal(a, b) for a, b in zip(watched_weights, plain_weights))
    norms = [layer for layer in watched.model.layers if layer.kind == "batch_norm"]
    assert np.array_equal(norms[0].buffers["running_var"], plain.model.layers[1].buffers["running_var"])


def test_plots_are_drawn_into_the_run_folder_and_listed_as_artifacts(compose_config, plugins, tmp_path):
    run = run_experiment(compose_config(EVERY_5), pm=plugins)
    folder = tmp_path / "out" / "diagnostics"
    assert sorted(p.name for p in folder.iterdir()) == ["gradient_norms.png", "layer_profile.png", "records.json"]
    assert all((folder / name).read_bytes().startswith(PNG) for name in ("gradient_norms.png", "layer_profile.png"))
    assert {folder / "gradient_norms.png", folder / "layer_profile.png"} <= set(run.result.artifacts)


@pytest.mark.parametrize("extra", [["++diagnostics.every_steps=5", "++diagnostics.plots=false"], ["++diagnostics.every_steps=100"]],
                         ids=["plots-off", "one-record"])
def test_no_plots_when_switched_off_or_with_a_single_record(compose_config, plugins, tmp_path, extra):
    run_experiment(compose_config([*TINY, "reports.plots=false", *extra]), pm=plugins)
    assert [p.name for p in (tmp_path / "out" / "diagnostics").iterdir()] == ["records.json"]


def test_a_diverging_run_is_recorded_up_to_where_it_blew_up(compose_config, plugins, tmp_path):
    from harness import hookimpl
    from harness.errors import DivergenceError

    class Keep:
        @hookimpl(trylast=True)
        def harness_run_end(self, status):
            self.status = status

    kept = Keep()
    plugins.register(kept, name="keep-run")
    cfg = compose_config([*TINY, "reports.plots=false", "optimizer=sgd", "optimizer.lr=1e8",
                          "model.layers.0.init=normal", "+model.layers.0.init_scale=100"])
    with pytest.raises(DivergenceError, match="at step (\\d+)") as excinfo:
        run_experiment(cfg, pm=plugins)
    last = int(re.search(r"at step (\d+)", str(excinfo.value)).group(1)) - 1  # the last step that went through
    assert kept.status == "FAILED"
    assert [r["step"] for r in read_records(tmp_path / "out")] == [0, last]
    assert (tmp_path / "out" / "diagnostics" / "layer_profile.png").read_bytes().startswith(PNG)


def stand_in_run(tmp_path, resumed: bool):
    """The part of a run the diagnostics hooks read, with its metrics caught on the way out."""
    from harness import RunInfo
    from harness.config import HarnessConfig

    sent: list[int] = []
    config = HarnessConfig(plugins={"diagnostics": {"plots": False}})
    run = RunInfo(name="stand-in", config=config, config_yaml="", params={}, config_hash="", project_dir=tmp_path,
                  output_dir=tmp_path, engine_name="backprop", resumed=resumed,
                  log_metrics_hook=lambda run, records: sent.extend(step for step, _ in records))
    return run, sent


def test_a_killed_run_is_not_probed_again_on_its_way_out(plugins, tmp_path):
    from harness import RunResult, Splits

    model, x, y = tiny_model(plugins)
    data = Splits(x, y, x, y, x, y)
    for status, recorded in (("KILLED", [100]), ("FAILED", [100, 150])):
        run, sent = stand_in_run(tmp_path, resumed=True)
        diagnostics_plugin.harness_run_start(run=run, model=model, engine=BackpropEngine(), data=data)
        diagnostics_plugin.harness_step_end(run=run, step=100)
        diagnostics_plugin.harness_step_end(run=run, step=150)
        diagnostics_plugin.harness_run_artifacts(run=run, result=RunResult(status=status))
        assert sent == recorded, status


def test_a_resumed_run_does_not_record_step_zero_again(plugins, tmp_path):
    from harness import RunResult, Splits

    model, x, y = tiny_model(plugins)
    run, sent = stand_in_run(tmp_path, resumed=True)
    diagnostics_plugin.harness_run_start(run=run, model=model, engine=BackpropEngine(), data=Splits(x, y, x, y, x, y))
    diagnostics_plugin.harness_step_end(run=run, step=100)
    diagnostics_plugin.harness_run_artifacts(run=run, result=RunResult(status="FINISHED"))
    assert [r["step"] for r in read_records(tmp_path)] == [100] and sent == [100]


def test_metrics_and_plots_reach_mlflow(compose_config, plugins, tmp_path):
    tracked = [o for o in EVERY_5 if o != "tracking=none"] + ["tracking=mlflow", "name=tiny", "tracking.log_model=false"]
    run_experiment(compose_config(tracked), pm=plugins)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (recorded,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    history = client.get_metric_history(recorded.info.run_id, tracked_name(RATIO))
    assert sorted(m.step for m in history) == [0, 5, 10, 15]
    assert sorted(m.step for m in client.get_metric_history(recorded.info.run_id, tracked_name(f"{UPDATE}/0.dense.W"))) == [5, 10, 15]
    assert tracked_name(f"{INPUT_GRAD}/3.relu") in recorded.data.metrics
    # One chart section in MLflow's UI: every diagnostics metric under diag/, the run's own outside it.
    assert {k.split("/")[0] for k in recorded.data.metrics if "/" in k} == {"diag"}
    assert {"train_loss", "val_accuracy", "test_accuracy"} <= recorded.data.metrics.keys()
    plotted = {a.path for a in client.list_artifacts(recorded.info.run_id, "diagnostics")}
    assert {"diagnostics/gradient_norms.png", "diagnostics/layer_profile.png"} <= plotted


def test_long_epochs_send_their_records_as_they_end(compose_config, plugins, tmp_path, monkeypatch):
    from harness import hookimpl

    monkeypatch.setattr(diagnostics_plugin, "SEND_EVERY_SECONDS", 0.0)  # every epoch counts as long

    class Look:
        seen: list[list[int]] = []

        @hookimpl(trylast=True)
        def harness_epoch_end(self, run):
            from harness_mlflow.plugin import _open

            tracked = _open[run].tracked
            self.seen.append(sorted(m.step for m in tracked.client.get_metric_history(tracked.run_id, tracked_name(RATIO))))

    plugins.register(Look(), name="look")
    tracked = [o for o in EVERY_5 if o != "tracking=none"] + ["tracking=mlflow", "name=tiny", "tracking.log_model=false", NO_PLOTS]
    run_experiment(compose_config(tracked), pm=plugins)
    assert Look.seen == [[0, 5], [0, 5, 10], [0, 5, 10, 15]]


# ----------------------------------------------------------------- summary


def test_describe_places_a_run_by_its_config():
    base = {"model.layers.0.type": "dense", "model.layers.0.init": "normal", "model.layers.0.init_scale": "None",
            "model.layers.1.type": "sigmoid", "optimizer.clip_norm": "None"}
    assert describe(base) == ("sigmoid", "normal", "none")
    assert describe({**base, "model.layers.1.type": "batch_norm", "model.layers.2.type": "tanh"}) == ("tanh", "normal", "batch_norm")
    nested = {**base, "model.layers.2.type": "residual", "model.layers.2.layers.0.type": "dense"}
    assert describe(nested) == ("sigmoid", "normal", "residual")
    clipped = {**base, "optimizer.clip_value": "0.01", "model.layers.0.init_scale": "0.25"}
    assert describe(clipped) == ("sigmoid", "normal×0.25", "clipping")


def test_summary_of_a_sweeps_runs_and_its_command(compose_config, plugins, tmp_path, capsys):
    from harness.cli.sweep import read_results, write_result

    sweep = tmp_path / "multirun" / "sweepish" / "2026-01-01_00-00-00"
    variants = [[], ["model.layers.1.type=sigmoid", "model.layers.3.type=sigmoid"], ["optimizer.clip_norm=1.0"]]
    for job, variant in enumerate(variants):
        folder = sweep / str(job)
        outcome = run_experiment(compose_config([*EVERY_5, NO_PLOTS, f"paths.output_dir={folder}", *variant]), pm=plugins)
        write_result(folder, name=f"job {job}", status="FINISHED", result=outcome.result, params=dict(outcome.run.params))
    path, rows = summarize_records(read_results(sweep), tmp_path / "summary.png", title="sweepish")
    assert path.read_bytes().startswith(PNG)
    assert sorted(r.config for r in rows) == [("relu", "he", "clipping"), ("relu", "he", "none"), ("sigmoid", "he", "none")]
    assert all(0 < r.ratio < math.inf and r.status == "FINISHED" for r in rows)

    from harness.cli.main import main

    out = tmp_path / "again.png"
    code = main(["diagnostics", "summary", str(sweep), "--out", str(out)])
    assert code == 0 and out.read_bytes().startswith(PNG)
    printed = capsys.readouterr().out
    assert "sigmoid" in printed and "clipping" in printed and str(out.resolve()) in printed


def test_summary_command_names_a_missing_sweep(tmp_path, monkeypatch, capsys):
    from harness.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["diagnostics", "summary"]) != 0
    assert "no sweep under ./multirun/" in capsys.readouterr().err

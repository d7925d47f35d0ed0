"""Hooks are called through pluggy only: any legal implementation works.

pluggy lets an implementation take a strict subset of a hook's arguments and lets a
``wrapper=True`` implementation wrap the others. The core once called implementations
itself with every argument, so both failed; these tests cover every run-event and sweep
hook, and the registration hooks the registry calls plugin by plugin.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from harness import hookimpl
from harness.cli.sweep import SweepSummary, write_result
from harness.plugins import activated, call_each, load_plugins
from harness.testing import plugin_manager_with, train
from harness.training.experiment import run_experiment

TINY = ["data=blobs", "model.layers.4.units=3", "training.epochs=2"]


class Subsets:
    """Every run-event hook, each taking one argument of its hook (a strict subset)."""

    def __init__(self):
        self.calls: list[str] = []

    @hookimpl
    def harness_run_start(self, model):
        self.calls.append("run_start")

    @hookimpl
    def harness_epoch_start(self, lr):
        self.calls.append("epoch_start")

    @hookimpl
    def harness_step_end(self, step):
        self.calls.append("step_end")

    @hookimpl
    def harness_epoch_end(self, metrics):
        self.calls.append("epoch_end")

    @hookimpl
    def harness_log_metrics(self, records):
        self.calls.append("log_metrics")

    @hookimpl
    def harness_checkpoint_saved(self, directory):
        self.calls.append("checkpoint_saved")

    @hookimpl
    def harness_run_artifacts(self, result):
        self.calls.append("run_artifacts")
        return []

    @hookimpl
    def harness_run_end(self, status):
        self.calls.append(f"run_end:{status}")


def test_run_event_hooks_taking_a_subset_of_their_arguments_are_called(tmp_path):
    spy = Subsets()
    outcome = train([*TINY, "diagnostics.enabled=true"], plugins=[spy], output_dir=tmp_path)
    assert outcome.result.status == "FINISHED"
    for hook in ("run_start", "epoch_start", "step_end", "epoch_end", "log_metrics", "checkpoint_saved", "run_artifacts"):
        assert hook in spy.calls, f"harness_{hook} was not called"
    assert spy.calls[0] == "run_start" and spy.calls[-1] == "run_end:FINISHED"
    assert spy.calls.index("run_artifacts") < spy.calls.index("run_end:FINISHED")


class WrapsRunEnd:
    """A ``wrapper=True`` implementation: runs before and after the others."""

    def __init__(self, log: list[str]):
        self.log = log

    @hookimpl(wrapper=True)
    def harness_run_end(self, status):
        self.log.append(f"before:{status}")
        result = yield
        self.log.append("after")
        return result


class Plain:
    def __init__(self, log: list[str]):
        self.log = log

    @hookimpl
    def harness_run_end(self):
        self.log.append("plain")


def test_a_wrapper_implementation_wraps_the_run_end_hook(tmp_path):
    log: list[str] = []
    train(TINY, plugins=[WrapsRunEnd(log), Plain(log)], output_dir=tmp_path)
    assert "plain" in log and log.index("before:FINISHED") < log.index("plain") < log.index("after")


def test_a_wrapper_of_a_registration_hook_wraps_each_plugins_call():
    seen: list[str] = []

    class Counts:
        @hookimpl(wrapper=True)
        def harness_register_optimizers(self, register):
            seen.append("around")
            return (yield)

    pm = plugin_manager_with([Counts()])
    results = call_each("harness_register_optimizers", lambda plugin: {"register": lambda *a, **k: None}, pm=pm)
    assert {plugin for plugin, _ in results} >= {"optim"}
    assert len(seen) == len(results) and seen  # once around each plugin's own call


class SweepSubsets:
    def __init__(self):
        self.calls: list[str] = []

    @hookimpl
    def harness_sweep_start(self, sweep):
        self.calls.append(f"sweep_start:{sweep.name}")

    @hookimpl
    def harness_compare_runs(self, runs):
        self.calls.append(f"compare_runs:{len(runs)}")
        return []

    @hookimpl
    def harness_sweep_end(self, jobs):
        self.calls.append(f"sweep_end:{[job.status for job in jobs]}")


def test_sweep_hooks_taking_a_subset_of_their_arguments_are_called(tmp_path):
    spy = SweepSubsets()
    sweep_dir = tmp_path / "multirun"
    config = OmegaConf.create({
        "name": "subset", "tracking": {"backend": "none"},
        "hydra": {"sweep": {"dir": str(sweep_dir)}, "overrides": {"task": ["seed=1,2"]}, "sweeper": {"params": None}},
    })
    pm = load_plugins(use_env=False)
    pm.register(spy, name="spy")
    with activated(pm):
        callback = SweepSummary()
        callback.on_multirun_start(config)
        for job, seed in enumerate((1, 2)):
            outcome = run_experiment(_job_config(tmp_path, sweep_dir / str(job), seed), pm=pm)
            write_result(sweep_dir / str(job), name=f"seed={seed}", status="FINISHED", result=outcome.result)
        callback.on_multirun_end(config)
    assert spy.calls == ["sweep_start:subset", "compare_runs:2", "sweep_end:['FINISHED', 'FINISHED']"]


def _job_config(tmp_path: Path, folder: Path, seed: int):
    from harness.testing import QUIET, compose

    return compose([*QUIET, *TINY, f"seed={seed}", f"paths.output_dir={folder}"], output_dir=tmp_path)


class RatesSeen:
    def __init__(self):
        self.rates: list[float] = []

    @hookimpl
    def harness_step_end(self, lr):
        self.rates.append(lr)


class LinearPerStep:
    """A per-step schedule: the rate rises with the fractional epoch."""

    per_step = True

    def lr(self, base_lr, epoch, total_epochs):
        return base_lr * (1 + epoch)


def test_a_per_step_schedule_is_asked_before_every_step(tmp_path):

    class Provides:
        @hookimpl
        def harness_register_schedules(self, register):
            register("linear_per_step", LinearPerStep)

    seen = RatesSeen()
    train([*TINY, "schedule=constant", "schedule.name=linear_per_step", "optimizer=sgd", "optimizer.lr=0.01"],
          plugins=[Provides(), seen], output_dir=tmp_path)
    assert len(seen.rates) == 12  # 6 steps per epoch, 2 epochs
    assert seen.rates == sorted(seen.rates) and len(set(seen.rates)) == 12
    assert seen.rates[0] == 0.01 and abs(seen.rates[7] - 0.01 * (1 + 1 + 1 / 6)) < 1e-15

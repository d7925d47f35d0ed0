"""Registers the chapter's demonstrations: ``harness graph``, the ``lr_range`` schedule and
its recorder, loss-per-evaluation curves, and the scalar engine's graph as an artifact."""

from pathlib import Path

from harness import hookimpl
from harness_lessons import runs as recording
from harness_lessons.lr_range import LrRange


@hookimpl
def harness_register_commands(subparsers):
    from harness_lessons import graph_cmd

    graph_cmd.add_parser(subparsers)


@hookimpl
def harness_register_schedules(register):
    register(LrRange.kind, LrRange)


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")  # schedule=lr_range, +experiment=lr_range, method=..., ...


@hookimpl
def harness_register_config_sections(register):
    # What a run records and draws, not what it computes: left out of the config hash.
    # Absent from a config, it is recording.DEFAULTS (all off): `+lessons.graph=true` turns one on.
    register(recording.SECTION, hashed=False)


@hookimpl
def harness_validate_config(config):
    recording.validate(config)


@hookimpl
def harness_run_start(run, model, data):
    recording.run_start(run, model, data)


@hookimpl
def harness_step_end(run, step, loss, lr):
    recording.step_end(run, step, loss, lr)


@hookimpl
def harness_epoch_end(run, metrics):
    recording.epoch_end(run, metrics)


@hookimpl
def harness_run_artifacts(run, result):
    return recording.run_artifacts(run, result)


@hookimpl
def harness_compare_runs(runs, folder, title):
    return recording.compare_runs(runs, folder, title)

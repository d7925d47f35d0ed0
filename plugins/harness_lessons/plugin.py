"""Registers ``harness graph``, the ``lr_range`` schedule and the hooks of the chapter's demonstrations."""

from pathlib import Path

from harness import hookimpl
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
    register(Path(__file__).parent / "conf")  # schedule=lr_range, +experiment=lr_range, ...

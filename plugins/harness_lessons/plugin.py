"""Registers ``harness graph`` and the hooks of the chapter's demonstrations."""

from harness import hookimpl


@hookimpl
def harness_register_commands(subparsers):
    from harness_lessons import graph_cmd

    graph_cmd.add_parser(subparsers)

"""``harness``: the tool commands next to training (``harness-train``).

Each core subcommand lives in its own module listed in :data:`COMMANDS`; plugins add
theirs through the ``harness_register_commands`` hook (``compare``, ``runs``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from harness import __version__
from harness.cli import check_cmd, data_cmd, plugins_cmd
from harness.errors import HarnessError
from harness.plugins import call_each, get_plugin_manager

COMMANDS = (plugins_cmd, data_cmd, check_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Tools for the harness experiment harness. Train with `harness-train`.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    def warn(plugin: str, exc: Exception) -> None:  # one broken plugin must not take `harness plugins` down
        print(f"harness: warning: plugin {plugin!r} could not add its commands: {type(exc).__name__}: {exc}",
              file=sys.stderr)

    call_each("harness_register_commands", {"subparsers": sub}, pm=get_plugin_manager(), on_error=warn)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.handler(args) or 0
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())

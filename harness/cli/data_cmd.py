"""``harness data fetch NAME``: download and verify any registered dataset ahead of training.

The dataset is built exactly as ``data=NAME`` builds it for a run (same factory, same
option checks), then its ``fetch()`` brings its files into the cache; a dataset from a
third-party plugin works the same way.
"""

from __future__ import annotations

import argparse

import yaml

from harness.errors import ConfigError
from harness.plugins import get_registry


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="manage datasets")
    data_sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = data_sub.add_parser("fetch", help="fetch a dataset into its cache and verify its checksums",
                                description="Fetch a registered dataset's files (see `harness plugins` for the names).")
    fetch.add_argument("name", help="a registered dataset name (`harness plugins` lists them)")
    fetch.add_argument("--root", default=None, help="cache root, passed as the dataset's `root` option "
                       "(default: the dataset's own)")
    fetch.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                       help="another option of the dataset, as in data.KEY=VALUE (repeatable)")
    fetch.set_defaults(handler=run_fetch)


def parse_options(pairs: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option must be KEY=VALUE, got {pair!r}")
        options[key.strip()] = yaml.safe_load(value) if value else None
    return options


def run_fetch(args: argparse.Namespace) -> int:
    name = args.name.strip().lower().replace("-", "_")
    options = parse_options(args.option)
    if args.root is not None:
        options["root"] = args.root
    dataset = get_registry().create("dataset", name, options, section="data")
    paths = dataset.fetch()
    if not paths:
        print(f"{name}: nothing to fetch (its examples are generated)")
    for role, path in paths.items():
        print(f"{role}: {path}")
    return 0

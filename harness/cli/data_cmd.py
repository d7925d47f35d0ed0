"""``harness data fetch NAME``: download and verify a dataset ahead of training."""

from __future__ import annotations

from harness import data


def add_parser(sub) -> None:
    parser = sub.add_parser("data", help="manage datasets")
    data_sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = data_sub.add_parser("fetch", help="fetch a dataset into the cache and verify its checksums")
    fetch.add_argument("name", help=f"dataset name: {', '.join(data.DATASET_NAMES)}")
    fetch.add_argument("--root", default=None, help="cache root (default: $HARNESS_DATA_DIR or ~/.cache/harness)")
    fetch.set_defaults(handler=run_fetch)


def run_fetch(args) -> int:
    paths = data.fetch(args.name, root=args.root)
    for role, path in paths.items():
        print(f"{role}: {path}")
    return 0

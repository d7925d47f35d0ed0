"""``harness compare`` and ``harness runs repair``: the store, without opening the UI."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from harness import HarnessError
from harness_mlflow.compare import CURVES
from harness_mlflow.store import EXPERIMENT_ENV, STORE_FILE, URI_ENV, Store, client_for, reading_uri, retrying


def add_commands(subparsers) -> None:
    compare = subparsers.add_parser("compare", help="table and plot comparing the runs of a sweep (or an experiment)")
    _store_options(compare)
    compare.add_argument("--sweep", metavar="RUN_ID", help="parent run of the sweep (default: the latest sweep)")
    compare.add_argument("--all", action="store_true", help="compare every top-level run of the experiment instead of a sweep")
    compare.add_argument("--metric", default="val_accuracy", choices=CURVES, help="per-epoch metric to plot (default: val_accuracy)")
    compare.add_argument("--out", default="comparison", help="folder for comparison.png/.csv/.md (default: ./comparison)")
    compare.set_defaults(handler=run_compare)

    runs = subparsers.add_parser("runs", help="maintain tracked runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    repair = runs_sub.add_parser("repair", help="end runs left RUNNING by a process that is gone (marked KILLED)")
    _store_options(repair)
    repair.add_argument("--older-than", type=_minutes, metavar="MINUTES",
                        help="also end runs from other hosts idle for longer than this")
    repair.add_argument("--dry-run", action="store_true", help="only list what would be repaired")
    repair.set_defaults(handler=run_repair)


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of minutes >= 0, got {text!r}")
    return value


def _store_options(parser) -> None:
    parser.add_argument("--uri", default=None, help=f"tracking URI (default: ${URI_ENV}, else sqlite:///<cwd>/{STORE_FILE})")
    parser.add_argument("--experiment", default=None, help=f"experiment name (default: ${EXPERIMENT_ENV}, else all experiments)")


def _client(args, *, write: bool):
    """The store and experiment a command reads, resolved as a run resolves them
    (``write``: the command changes runs, so a read-only store is refused up front)."""
    uri = reading_uri(args.uri)
    args.experiment = args.experiment or os.environ.get(EXPERIMENT_ENV) or None
    return client_for(Store(uri, None, args.experiment or ""), write=write), uri


def _experiment_ids(client, name: str | None) -> list[str]:
    if name is None:
        return [e.experiment_id for e in retrying(client.search_experiments)]
    found = retrying(client.get_experiment_by_name, name)
    if found is None:
        names = ", ".join(e.name for e in retrying(client.search_experiments))
        raise HarnessError(f"unknown experiment {name!r}; known: {names or '(none)'}")
    return [found.experiment_id]


def run_compare(args) -> int:
    client, uri = _client(args, write=False)
    with _store_errors(uri):
        return _compare(client, uri, args)


def _compare(client, uri: str, args) -> int:
    from harness import get_plugin_manager
    from harness_mlflow.compare import children_of, latest_per_config, record_of

    ids = _experiment_ids(client, args.experiment)
    if args.all:
        # Top-level runs that are not sweep parents (a tag filter `!= 'parent'` would also
        # drop every run without the tag, i.e. every single run).
        runs = retrying(client.search_runs, ids, max_results=5000)
        runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags and r.data.tags.get("harness.sweep") != "parent"]
        title, left_out = args.experiment or "all experiments", 0
    else:
        parent = _sweep_parent(client, args.sweep, uri) if args.sweep else _latest_sweep(client, ids)
        children = children_of(client, parent.info.run_id)
        runs = latest_per_config(children)
        left_out = len(children) - len(runs)
        title = parent.info.run_name
    if not runs:
        raise HarnessError("nothing to compare: no runs found")
    records = [record_of(client, run) for run in runs]
    answers = get_plugin_manager().hook.harness_compare_runs(runs=records, folder=Path(args.out), title=title,
                                                             metric=args.metric)
    made = [Path(p) for paths in answers for p in paths or []]
    for table in (p for p in made if p.suffix == ".md"):
        print(table.read_text(), end="")
    if not made:
        raise HarnessError("no plugin draws comparisons (the built-in `reports` plugin does: is it loaded?)")
    if left_out:
        print(f"\n{left_out} superseded attempt(s) not shown: runs of a configuration the resumed sweep ran again "
              f"(tag harness.superseded_by names the run that replaced each)")
    print(f"\nwrote {', '.join(str(p) for p in made)}")
    return 0


def _latest_sweep(client, experiment_ids: list[str]):
    found = retrying(client.search_runs, experiment_ids, filter_string="tags.`harness.sweep` = 'parent'",
                     order_by=["attributes.start_time DESC"], max_results=1)
    if not found:
        raise HarnessError("no sweep found in the store; run `harness-train -m ...` first, or use --all")
    return found[0]


def _sweep_parent(client, run_id: str, uri: str):
    from mlflow.exceptions import MlflowException

    try:
        run = retrying(client.get_run, run_id)
    except MlflowException:
        raise HarnessError(f"--sweep: no run {run_id!r} in {uri}") from None
    if run.data.tags.get("harness.sweep") != "parent":
        raise HarnessError(f"--sweep: run {run_id} ({run.info.run_name}) is not a sweep's parent run")
    return run


def run_repair(args) -> int:
    from harness_mlflow.repair import repair

    client, uri = _client(args, write=not args.dry_run)
    with _store_errors(uri):
        report = repair(client, _experiment_ids(client, args.experiment), args.older_than, dry_run=args.dry_run)
    verb = "would end" if args.dry_run else "ended"
    failed = [item for item in report if "error" in item]
    for item in report:
        if "error" in item:
            print(f"could not end {item['run_id']} ({item['name']}): {item['error']}", file=sys.stderr)
        else:
            print(f"{verb} {item['run_id']} ({item['name']}) {item['status']}: {item['reason']}")
    print(f"{len(report) - len(failed)} run(s) {verb}{f', {len(failed)} could not be' if failed else ''}; store {uri}")
    return 1 if failed else 0


@contextlib.contextmanager
def _store_errors(uri: str) -> Iterator[None]:
    """A store failing under a command is one line naming it, not MLflow's traceback."""
    from mlflow.exceptions import MlflowException

    from harness_mlflow.store import store_failure

    try:
        yield
    except MlflowException as exc:
        raise HarnessError(f"the MLflow store {uri} failed: {store_failure(exc)}") from None

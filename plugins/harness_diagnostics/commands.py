"""``harness diagnostics summary``: the sweep summary figure, from the MLflow store.

The vanishing preset draws it by itself when its sweep ends (see
:mod:`harness_diagnostics.sweep`); this command draws it again, for another experiment
or sweep, without training anything.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError

DEFAULT_EXPERIMENT = "vanishing"


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("diagnostics", help="gradient-flow diagnostics of tracked runs")
    sub = parser.add_subparsers(dest="diagnostics_command", metavar="ACTION", required=True)
    summary = sub.add_parser("summary", help="one figure comparing the gradient flow of a sweep's runs")
    summary.add_argument("--experiment", default=None, help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else vanishing)")
    summary.add_argument("--uri", default=None, help="tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db)")
    summary.add_argument("--sweep", metavar="RUN_ID", default=None,
                         help="parent run of the sweep (default: the experiment's latest sweep, else its latest run of each configuration)")
    summary.add_argument("--out", default="diagnostics_summary.png", help="where to write the PNG (default: ./diagnostics_summary.png)")
    summary.add_argument("--no-log", action="store_true", help="do not attach the PNG to the sweep's parent run")
    summary.set_defaults(handler=run_summary)


def run_summary(args) -> int:
    # The summary compares runs recorded in MLflow: the store is found as the MLflow plugin finds it.
    from harness_diagnostics.summary import summarize, table
    from harness_mlflow.store import Store, client_for, reading_uri, resolve_experiment

    uri = reading_uri(args.uri)
    experiment = resolve_experiment(args.experiment, DEFAULT_EXPERIMENT)
    client = client_for(Store(uri, None, experiment))
    try:
        path, rows, parent_id = summarize(client, experiment, Path(args.out), args.sweep)
    except LookupError as exc:
        raise HarnessError(str(exc)) from None
    print(table(rows))
    print(f"summary plot: {path.resolve()}")
    if parent_id is not None and not args.no_log:
        client.log_artifact(parent_id, str(path), "diagnostics")
        print(f"attached to sweep run {parent_id} as diagnostics/{path.name}")
    return 0

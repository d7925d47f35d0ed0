"""``harness diagnostics summary``: the sweep summary figure, from a sweep's folder.

The vanishing preset draws it by itself when its sweep ends (``diagnostics.summary``);
this command draws it again for any sweep whose runs recorded diagnostics, from the
records each job left in its folder (``diagnostics/records.json``), without training
anything and without a tracking store.
"""

from __future__ import annotations

from pathlib import Path

from harness import HarnessError

SWEEPS = Path("multirun")


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("diagnostics", help="gradient-flow diagnostics of finished runs")
    sub = parser.add_subparsers(dest="diagnostics_command", metavar="ACTION", required=True)
    summary = sub.add_parser("summary", help="one figure comparing the gradient flow of a sweep's runs")
    summary.add_argument("sweep", nargs="?", default=None, type=Path,
                         help="the sweep's folder (default: the newest under ./multirun/)")
    summary.add_argument("--out", default="diagnostics_summary.png", help="where to write the PNG (default: ./diagnostics_summary.png)")
    summary.set_defaults(handler=run_summary)


def run_summary(args) -> int:
    from harness import read_sweep_jobs
    from harness_diagnostics.summary import summarize_records, table

    folder = args.sweep or _newest_sweep()
    if not folder.is_dir():
        raise HarnessError(f"no sweep folder {folder}; pass the folder a `harness-train -m` run wrote (multirun/<name>/<time>)")
    runs = read_sweep_jobs(folder)
    if not runs:
        raise HarnessError(f"{folder}: no jobs found (each job leaves harness_job.json in its folder)")
    try:
        path, rows = summarize_records(runs, Path(args.out), title=folder.parent.name)
    except LookupError as exc:
        raise HarnessError(f"{folder}: {exc}") from None
    print(table(rows))
    print(f"summary plot: {path.resolve()}")
    return 0


def _newest_sweep() -> Path:
    candidates = sorted(SWEEPS.glob("*/*/"), key=lambda p: p.stat().st_mtime) if SWEEPS.is_dir() else []
    if not candidates:
        raise HarnessError("no sweep under ./multirun/; run `harness-train -m ...` first or pass the sweep's folder")
    return candidates[-1]

"""Run a preset as a user would and keep what it measured, for the docs to quote.

The docs quote what the presets show (the vanishing grid, the range test's suggestion,
random search against SGD, the Optuna search's best trial). Those numbers come from here,
not from prose: this script runs ``harness-train ARGS`` through the command line in a
fresh temporary folder with the default MLflow tracking, then reads that folder's store
back and writes one JSON file with

* ``command``, ``wall_seconds`` (the whole command, start-up and plots included),
  ``load_before`` / ``load_after`` (1-minute load average) and ``cpus``;
* ``runs``: every run of the experiment, oldest first, with its ``name``, ``status``,
  whether it ``diverged`` (step), its final metrics, its ``harness.*`` / ``optuna.*``
  tags and, for runs with gradient diagnostics, ``grad_norm_ratio`` and
  ``input_grad_ratio`` at step 0 (at initialisation);
* ``parent``: the sweep's parent run (tags and metrics), when there is one.

``tests/test_docs.py`` checks every number the docs take from these files against them.

Usage: ``python benchmarks/presets.py --out benchmarks/results/vanishing.json -- -m +experiment=vanishing``
(``--keep DIR`` runs in DIR and keeps it). The last line printed is the JSON file's path.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
KEPT_TAGS = ("harness.", "optuna.")


def run_command(args: list[str], folder: Path) -> tuple[float, int]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "harness-train"), *args], cwd=folder, env=env)
    return time.perf_counter() - started, done.returncode


def step0_ratios(output_dir: str | None) -> dict[str, float]:
    """``grad_norm_ratio`` / ``input_grad_ratio`` at step 0 from the run's diagnostics records."""
    if not output_dir:
        return {}
    path = Path(output_dir) / "diagnostics" / "records.json"
    if not path.is_file():
        return {}
    records = json.loads(path.read_text())
    first = records[0] if records and records[0].get("step") == 0 else {}
    return {key: first[key] for key in ("grad_norm_ratio", "input_grad_ratio") if key in first}


def describe(run) -> dict:
    tags = {k: v for k, v in run.data.tags.items() if k.startswith(KEPT_TAGS)}
    diverged = tags.get("harness.diverged")
    return {
        "run_id": run.info.run_id, "name": run.info.run_name, "status": run.info.status,
        "diverged": int(diverged) if diverged and diverged.isdigit() else None,
        "metrics": dict(sorted(run.data.metrics.items())), "tags": dict(sorted(tags.items())),
        **step0_ratios(run.data.tags.get("harness.output_dir")),
    }


def read_store(folder: Path) -> tuple[list[dict], dict | None]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, max_results=5000, order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [describe(r) for r in runs if r.data.tags.get("harness.sweep") != "parent"]
    parent = describe(parents[-1]) if parents else None
    return children, parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="the JSON file to write")
    parser.add_argument("--keep", type=Path, default=None, help="run in this folder and keep it")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="harness-train's arguments, after --")
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    folder = options.keep or Path(tempfile.mkdtemp(prefix="harness-preset-"))
    folder.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    seconds, code = run_command(args, folder)
    runs, parent = read_store(folder)
    result = {
        "command": "harness-train " + shlex.join(args), "exit_code": code, "wall_seconds": round(seconds, 1),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
        "runs": runs, "parent": parent,
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = options.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(options.out)
    if options.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    print(options.out)


if __name__ == "__main__":
    main()

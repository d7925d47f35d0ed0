"""Sweeps at scale: what a job of a multirun sweep costs beyond its training, sequential
and with two joblib workers, and whether 256 children stay recorded and comparable.

For each size N (``--sizes``, default 16,64,256) and each launcher (Hydra's basic one,
in process, and ``hydra/launcher=joblib hydra.launcher.n_jobs=2``), ``--runs`` times, a
fresh project folder gets the sweep a user types (the issue's tiny jobs, the default
configuration otherwise: MLflow tracking, model logging, checkpoints)::

    harness-train -m 'seed=range(N)' data.train_size=500 training.epochs=1 diagnostics.enabled=false

and the script prints, per sweep: the wall time, the jobs' training time (the sum of
their ``train_seconds``), the fixed cost per job, the runs and metric points recorded in
the store against those expected, and for the largest size the time ``harness compare``
takes over the sweep and the time the parent's comparison (plot and tables) takes over
its children, drawn again from the jobs' records.

The fixed cost per job leaves out what a sweep pays once (process start and imports in
the launching process, the store's creation, the parent run, the sweep-end comparison):
it is the span from Hydra's sweeper writing ``multirun.yaml`` (after which it composes
every job's config once to validate the batch, ``validate_sec``, before launching any) to
the last job's end (the job writes ``harness_job.json``), less the jobs' training time,
divided by the number of jobs. With joblib the span includes the workers' own start and
imports (paid once per worker, spread over the jobs it runs) and counts in worker-seconds:
the span times the workers, less the training time, per job (a worker that idles at the
end counts too). The speed-up is read from the wall times. ``launch_sec`` is the rest of the wall time.

Usage: ``python benchmarks/sweep_scale.py [--sizes 16,64,256] [--runs 1] [--workers 2]
[--modes sequential,joblib]``; quick: ``--sizes 16 --runs 1``. Each sweep's line carries
the load average around it (the machine may be shared). The last line is one JSON
object: ``per_job_overhead_sec`` (median of the sequential sweeps), ``parallel_speedup_tiny``
(median sequential wall over median joblib wall, at the largest size),
``cpu_parallel_ceiling`` (median over the rounds of what ``--workers`` CPU-bound processes
at once run against one, measured before each round's sweeps), ``runs_recorded``
and ``runs_expected`` (over every sweep), ``compare_sec_256`` and ``plot_sec_256`` (at
the largest size, whatever it is: ``compare_size`` says which), and every sweep's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arguments import at_least, integers

BIN = Path(sys.executable).parent
TINY = ["data.train_size=500", "training.epochs=1", "diagnostics.enabled=false", "progress=never", "name=scale"]
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds")
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "HYDRA_FULL_ERROR": "1"}


def launcher_args(mode: str, workers: int) -> list[str]:
    return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}"] if mode == "joblib" else []


def sweep(project: Path, n: int, mode: str, workers: int) -> dict:
    """Launch one sweep of ``n`` tiny jobs in ``project``; its wall time and the jobs' records."""
    project.mkdir(parents=True)
    sweep_dir = project / "multirun"
    command = [str(BIN / "harness-train"), "-m", f"seed=range({n})", *TINY, *launcher_args(mode, workers),
               f"hydra.sweep.dir={sweep_dir}"]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    from harness.jobs import read_results

    records = read_results(sweep_dir)
    jobs = [d for d in sweep_dir.iterdir() if d.name.isdigit()]
    # Hydra's sweeper writes multirun.yaml, then composes every job's config once to
    # validate the batch (a per-job cost paid before the first job starts), then launches.
    composed = (sweep_dir / "multirun.yaml").stat().st_mtime
    first = min((d / ".hydra" / "config.yaml").stat().st_mtime for d in jobs)
    last = max((d / "harness_job.json").stat().st_mtime for d in jobs)
    return {
        "span_sec": last - composed, "validate_sec": first - composed,
        "n": n, "mode": mode, "wall_sec": wall, "load_before": load, "load_after": os.getloadavg()[0],
        "train_sec": sum(float(r.summary.get("train_seconds", 0.0)) for r in records),
        "records": records, "project": project, "sweep_dir": sweep_dir,
        "retries": done.stderr.count("retrying in"),
    }


SPIN = "s = 0\nfor i in range(12_000_000):\n    s += i * i"


def cpu_parallel_ceiling(workers: int) -> float:
    """The speed-up this machine gives ``workers`` CPU-bound processes at once over one
    (pure Python, no memory traffic): what any parallel sweep can reach at best, taken
    beside the sweeps because a shared or virtual machine's cores drift (1.2-2.3 here)."""

    def spin(count: int) -> float:
        started = time.perf_counter()
        running = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]
        for process in running:
            process.wait()
        return time.perf_counter() - started

    return workers * spin(1) / spin(workers)


def recorded(project: Path, n: int) -> tuple[int, int, int]:
    """Finished child runs under the sweep's one parent, and epoch metric points recorded / expected."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("scale")
    runs = client.search_runs([experiment.experiment_id], max_results=50000)
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") and r.info.status == "FINISHED"]
    if len(parents) != 1:
        return 0, 0, n * len(EPOCH_METRICS)
    children = [c for c in children if c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id]
    points = sum(len(client.get_metric_history(c.info.run_id, key)) for c in children for key in EPOCH_METRICS)
    return len(children), points, n * len(EPOCH_METRICS)


def compare_seconds(project: Path) -> float:
    """``harness compare`` (the latest sweep's table and comparison.png, from the store)."""
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "harness"), "compare"], cwd=project, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        sys.exit(f"harness compare failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def plot_seconds(records) -> float:
    """The parent's comparison (comparison.png, .csv, .md) over these children, as drawn at sweep end."""
    from harness_reports.plugin import harness_compare_runs

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        harness_compare_runs(runs=records, folder=Path(folder), title="scale", metric="val_accuracy")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=integers(1), default="16,64,256", help="comma-separated job counts (default 16,64,256)")
    parser.add_argument("--runs", type=at_least(1), default=1, help="sweeps of each size and launcher (default 1)")
    parser.add_argument("--workers", type=at_least(1), default=2, help="joblib's n_jobs (default 2)")
    parser.add_argument("--modes", default="sequential,joblib", help="sequential, joblib or both (default)")
    parser.add_argument("--keep", action="store_true", help="keep the project folders (printed)")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in ("sequential", "joblib") for m in modes):
        parser.error(f"argument --modes: expected sequential, joblib or both (comma-separated), got {args.modes!r}")
    root = Path(tempfile.mkdtemp(prefix="harness-sweep-scale-"))
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; folders under {root}", flush=True)
    figures: list[dict] = []
    largest = max(sizes)
    compare, plot = [], []
    ceilings = []
    for round_ in range(args.runs):
        if "joblib" in modes:
            ceilings.append(round(cpu_parallel_ceiling(args.workers), 2))
            print(f"round {round_}: {args.workers} CPU-bound processes at once run {ceilings[-1]:.2f}x one "
                  f"(the ceiling of any parallel speed-up now)", flush=True)
        for mode in modes:
            for n in sizes:
                s = sweep(root / f"r{round_}-{mode}-{n}", n, mode, args.workers)
                runs, points, points_expected = recorded(s["project"], n)
                fixed = (s["span_sec"] * (args.workers if mode == "joblib" else 1) - s["train_sec"]) / n
                row = {
                    "round": round_, "mode": mode, "jobs": n, "wall_sec": round(s["wall_sec"], 2),
                    "train_sec": round(s["train_sec"], 2), "jobs_span_sec": round(s["span_sec"], 2),
                    "validate_sec": round(s["validate_sec"], 2),
                    "launch_sec": round(s["wall_sec"] - s["span_sec"], 2),
                    "fixed_cost_per_job_sec": round(fixed, 3), "runs_recorded": runs, "runs_expected": n,
                    "metric_points_recorded": points, "metric_points_expected": points_expected,
                    "store_retries": s["retries"],
                    "load_before": round(s["load_before"], 2), "load_after": round(s["load_after"], 2),
                }
                if n == largest:
                    row["compare_sec"] = round(compare_seconds(s["project"]), 2)
                    row["plot_sec"] = round(plot_seconds(s["records"]), 2)
                    compare.append(row["compare_sec"])
                    plot.append(row["plot_sec"])
                figures.append(row)
                print(f"{mode:10s} {n:4d} jobs: wall {row['wall_sec']:7.2f} s, training {row['train_sec']:6.2f} s, "
                      f"jobs' span {row['jobs_span_sec']:7.2f} s, fixed cost {row['fixed_cost_per_job_sec']:.3f} s/job; runs {runs}/{n}, metric points "
                      f"{points}/{points_expected}"
                      + (f"; harness compare {row['compare_sec']:.2f} s, parent plot {row['plot_sec']:.2f} s"
                         if n == largest else "")
                      + f"; load {row['load_before']:.2f} -> {row['load_after']:.2f}", flush=True)
                if not args.keep:
                    shutil.rmtree(s["project"], ignore_errors=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)

    def median(mode: str, key: str, jobs: int | None = None) -> float | None:
        values = [f[key] for f in figures if f["mode"] == mode and (jobs is None or f["jobs"] == jobs)]
        return statistics.median(values) if values else None

    sequential_wall, joblib_wall = median("sequential", "wall_sec", largest), median("joblib", "wall_sec", largest)
    overhead = median("sequential", "fixed_cost_per_job_sec")
    summary = {
        "per_job_overhead_sec": None if overhead is None else round(overhead, 3),
        "per_job_overhead_joblib_sec": median("joblib", "fixed_cost_per_job_sec"),
        "parallel_speedup_tiny": round(sequential_wall / joblib_wall, 2) if sequential_wall and joblib_wall else None,
        "workers": args.workers,
        "cpu_parallel_ceiling": statistics.median(ceilings) if ceilings else None,
        "runs_recorded": sum(f["runs_recorded"] for f in figures),
        "runs_expected": sum(f["runs_expected"] for f in figures),
        "metric_points_recorded": sum(f["metric_points_recorded"] for f in figures),
        "metric_points_expected": sum(f["metric_points_expected"] for f in figures),
        "compare_size": largest,
        "compare_sec_256": round(statistics.median(compare), 2) if compare else None,
        "plot_sec_256": round(statistics.median(plot), 2) if plot else None,
        "sweeps": figures,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

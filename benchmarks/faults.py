"""Fault injection: a parallel sweep where jobs raise, diverge, and get SIGINT, SIGTERM, SIGKILL.

What a user does after a bad night is what this script does:

1. launch the sweep (joblib launcher, several jobs at once) with faults planned on
   random jobs; a SIGKILL takes the whole joblib sweep down, as it does in real life;
2. ``harness runs repair`` to end the runs the dead processes left RUNNING;
3. launch the same sweep command again — finished configurations are skipped under
   the same parent — until it completes; the transient faults (signals) do not
   repeat, the deterministic ones (an exception, a divergence) do.

Then it reconciles the store with what every job recorded it logged, prints one row
per run and, as its last line, one JSON object with ``started``, ``finished``,
``failed``, ``killed``, ``running`` (must be 0) and ``metrics_lost`` (must be 0).

Two more classes of fault follow, in the same store:

4. diagnostics through a SIGKILL: a run with diagnostics on is killed inside its last
   epoch, ``harness runs repair`` ends it, ``resume=<run id>`` finishes it; every
   diagnostics record of an uninterrupted twin must be in its MLflow history
   (``diagnostics_lost`` counts the steps missing, must be 0);
5. Ctrl-C on a joblib sweep: SIGINT to the sweep's process group while both workers
   train; every run must end KILLED, none RUNNING (``ctrl_c_sweep``: its exit code, which
   must be 130, the runs left RUNNING, which count in ``running``, and whether a traceback
   was printed).

The tracking store's own faults follow, each in a store of its own:

* eight independent ``harness-train`` started at once into a folder without a store
  (``concurrent_fresh_store_recorded`` must equal the number started, all exiting 0);
* as root, on a small tmpfs: a run whose disk fills when training ends (it must exit
  non-zero and leave a local record; space is freed and ``harness runs repair`` run, as a
  user would) and a run whose artifact root fills during the model upload (it must exit
  non-zero and end FAILED). Runs left RUNNING count in ``running``; every file of the
  artifact stores is checked (``truncated_artifacts`` must be 0).

Usage: ``python benchmarks/faults.py [--jobs 12] [--n-jobs 4] [--seed 0] [--keep DIR] [--starters 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from mlflow.tracking import MlflowClient

from arguments import at_least

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "fault_plugin"
BIN = Path(sys.executable).parent
TRANSIENT = ("sigint", "sigterm", "sigkill")
QUICK = ["data=blobs", "data.n_samples=6000", "model.layers.4.units=3", "training.epochs=3", "progress=never",
         "reports.plots=false", "tracking.log_model=false", "name=faults", "optimizer.lr=0.05"]


def plan_faults(jobs: int, seed: int) -> dict[str, dict]:
    """Which job (by seed) gets which fault, at which step; one of each kind on random jobs.

    The SIGKILL goes to the latest of them: it takes the joblib sweep down, and the
    jobs before it should get to show their own fault first.
    """
    rng = random.Random(seed)
    kinds = ["raise", "diverge", "sigint", "sigterm"]
    chosen = sorted(rng.sample(range(jobs), len(kinds) + 1))
    rng.shuffle(kinds)
    kinds.append("sigkill")
    return {str(job): {"kind": kind, "at_step": rng.randint(10, 60)} for job, kind in zip(chosen, kinds)}


def launch(project: Path, jobs: int, n_jobs: int, plan: Path, record: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{FIXTURE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [str(BIN / "harness-train"), "-m", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}",
               f"seed=range({jobs})", *QUICK, f"+faults.plan={plan}", f"+faults.record={record}"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env, timeout=3600)
    print(f"  sweep exited {result.returncode} after {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return result


def repair(project: Path) -> str:
    result = subprocess.run([str(BIN / "harness"), "runs", "repair"], cwd=project, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr.strip()


def fixture_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{FIXTURE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}


EPOCH_METRICS = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds",
                 "samples_per_second", "test_accuracy", "test_loss", "train_seconds", "epochs", "best_epoch",
                 "best_val_accuracy", "steps"}
DIAG_RUN = ["data=blobs", "data.n_samples=1000", "model.layers.4.units=3", "gd=sgd", "optimizer=sgd",
            "optimizer.lr=0.01", "training.epochs=3", "progress=never", "reports.plots=false",
            "tracking.log_model=false", "diagnostics.every_steps=50", "diagnostics.plots=false"]


def diagnostics_round(project: Path) -> dict:
    """SIGKILL inside epoch 3 with diagnostics on, repair, resume by id; compared with a twin
    trained without interruption: the diagnostics steps its history misses."""
    env = fixture_env()
    plan = project / "diagnostics_plan.json"
    plan.write_text(json.dumps({"0": {"kind": "sigkill", "at_step": 1500}}))  # 600 steps an epoch
    train = [str(BIN / "harness-train"), *DIAG_RUN]
    subprocess.run([*train, "name=faults_diag_twin"], cwd=project, env=env, capture_output=True, timeout=3600)
    killed = subprocess.run([*train, "name=faults_diag", f"+faults.plan={plan}"], cwd=project, env=env,
                            capture_output=True, timeout=3600)
    plan.write_text("{}")
    repaired = repair(project)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("faults_diag").experiment_id])
    resumed = subprocess.run([*train[:1], f"resume={run.info.run_id}"], cwd=project, env=env, capture_output=True,
                             timeout=3600)
    (twin,) = client.search_runs([client.get_experiment_by_name("faults_diag_twin").experiment_id])
    run = client.get_run(run.info.run_id)
    expected, lost_steps, duplicated = 0, set(), 0
    for key in twin.data.metrics:
        if key in EPOCH_METRICS:
            continue
        want = {m.step for m in client.get_metric_history(twin.info.run_id, key)}
        got = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        expected = max(expected, len(want))
        lost_steps |= want - set(got)
        duplicated += len(got) - len(set(got))
    print(f"  diagnostics: killed exit {killed.returncode}, repair: {repaired}, resumed exit {resumed.returncode}, "
          f"{run.info.status}; {expected} records expected, {len(lost_steps)} lost", file=sys.stderr)
    return {"records": expected, "lost": len(lost_steps), "duplicated": duplicated, "status": run.info.status,
            "running": int(run.info.status == "RUNNING")}


def ctrl_c_round(project: Path, n_jobs: int = 2) -> dict:
    """Ctrl-C (SIGINT to the process group) on a joblib sweep while its workers train."""
    command = [str(BIN / "harness-train"), "-m", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}",
               "data=blobs", "data.n_samples=12000", "model.layers.4.units=3", "gd=sgd", "optimizer=sgd",
               "training.epochs=2", "optimizer.lr=0.01,0.02,0.03", "name=faults_ctrlc", "progress=never",
               "reports.plots=false", "tracking.log_model=false"]
    process = subprocess.Popen(command, cwd=project, env=fixture_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines, training = [], 0
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.time() + 3600
    while training < min(n_jobs, 3) and time.time() < deadline and selector.select(timeout=60):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        training += "epoch 1/2" in line
    os.killpg(process.pid, signal.SIGINT)
    rest, _ = process.communicate(timeout=3600)
    output = "".join(lines) + rest
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faults_ctrlc")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    statuses = Counter(r.info.status for r in runs)
    last = output.strip().splitlines()[-1] if output.strip() else ""
    print(f"  Ctrl-C sweep: exit {process.returncode}; runs {dict(statuses)}; last line: {last}", file=sys.stderr)
    return {"exit": process.returncode, "runs": dict(statuses), "running": statuses.get("RUNNING", 0),
            "traceback": "Traceback" in output}


def recorded(record: Path) -> list[dict]:
    lines = []
    for path in record.glob("*.jsonl"):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return lines


# ----------------------------------------------------------------- the tracking store

DISK_FIXTURE = ROOT / "tests" / "fixtures" / "disk_plugin"
STORE_RUN = ["data=blobs", "model.layers.4.units=3", "training.epochs=1", "progress=never", "reports.plots=false"]
WIDE = "model.layers=[{type:dense,units:60000},{type:relu},{type:dense,units:3}]"  # weights.npz > 1 MB


def store_env(*paths: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONPATH": os.pathsep.join([*map(str, paths), os.environ.get("PYTHONPATH", "")])}


def store_runs(db: Path) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1] if text.strip() else ""


def concurrent_fresh_store(starters: int) -> dict:
    """``starters`` independent runs started at once in a folder without ``mlflow.db``."""
    project = Path(tempfile.mkdtemp(prefix="harness-faults-store-"))
    try:
        command = [str(BIN / "harness-train"), *STORE_RUN, "tracking.log_model=false", "name=faults_concurrent"]
        started = time.perf_counter()
        procs = [subprocess.Popen([*command, f"seed={seed}"], cwd=project, env=store_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for seed in range(starters)]
        outcomes = [(p.wait(timeout=3600), p.stderr.read()) for p in procs]
        runs = store_runs(project / "mlflow.db") if (project / "mlflow.db").exists() else []
        statuses = Counter(r.info.status for r in runs)
        codes = Counter(code for code, _ in outcomes)
        print(f"  {starters} runs into a fresh store: exit codes {dict(codes)}, runs {dict(statuses)}, "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        for code, err in outcomes:
            if code:
                print(f"    exit {code}: {last_line(err)}", file=sys.stderr)
        return {"starters": starters, "exit_codes": {str(k): v for k, v in codes.items()},
                "recorded": statuses.get("FINISHED", 0) if set(codes) == {0} else 0,
                "running": statuses.get("RUNNING", 0)}
    finally:
        shutil.rmtree(project, ignore_errors=True)


def mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def full_disks() -> dict:
    """A run whose disk fills when training ends, and one whose artifact root fills during the model upload."""
    if os.geteuid() != 0:
        return {"skipped": "needs root to mount a small tmpfs"}
    base = Path(tempfile.mkdtemp(prefix="harness-faults-disk-"))
    disk, artifacts, project = base / "disk", base / "artifacts", base / "project"
    mounted = [d for d, size in ((disk, "4m"), (artifacts, "1m")) if mount_tmpfs(d, size)]
    try:
        if len(mounted) < 2:
            return {"skipped": "cannot mount a tmpfs here"}
        from harness_mlflow.artifacts import damaged_files

        # The whole project on a disk that is full when the run is recorded.
        full = subprocess.run([str(BIN / "harness-train"), *STORE_RUN, "training.epochs=2", f"+fill_disk.folder={disk}"],
                              cwd=disk, env=store_env(DISK_FIXTURE), capture_output=True, text=True, timeout=3600)
        left = [r.info.run_id for r in store_runs(disk / "mlflow.db") if r.info.status == "RUNNING"]
        records = sorted(disk.glob("outputs/*/*/harness_unrecorded.json"))
        (disk / "filler.bin").unlink(missing_ok=True)  # the user frees space, then repairs
        repaired = subprocess.run([str(BIN / "harness"), "runs", "repair"], cwd=disk, env=store_env(),
                                  capture_output=True, text=True)
        after = Counter(r.info.status for r in store_runs(disk / "mlflow.db"))
        store_full = {"exit": full.returncode, "tracebacks": full.stderr.count("Traceback"),
                      "left_running": len(left), "local_records": len(records),
                      "repair_exit": repaired.returncode, "after_repair": dict(after)}
        print(f"  disk full at run end: exit {full.returncode}; {last_line(full.stderr)}", file=sys.stderr)
        print(f"    repair: {last_line(repaired.stdout) or last_line(repaired.stderr)}; runs {dict(after)}", file=sys.stderr)

        # The database has room, the artifact root does not: the model upload fails part-way.
        project.mkdir()
        upload = subprocess.run([str(BIN / "harness-train"), *STORE_RUN, WIDE, f"tracking.artifact_root={artifacts.as_uri()}",
                                 "tracking.log_checkpoints=false"],
                                cwd=project, env=store_env(), capture_output=True, text=True, timeout=3600)
        statuses = Counter(r.info.status for r in store_runs(project / "mlflow.db"))
        artifacts_full = {"exit": upload.returncode, "tracebacks": upload.stderr.count("Traceback"), "runs": dict(statuses)}
        print(f"  artifact root full: exit {upload.returncode}; {last_line(upload.stderr)}", file=sys.stderr)

        damaged = damaged_files(disk / "mlartifacts") + damaged_files(artifacts)
        for path in damaged:
            print(f"    truncated: {path}", file=sys.stderr)
        return {"store_full": store_full, "artifacts_full": artifacts_full, "truncated": len(damaged),
                "running": after.get("RUNNING", 0) + statuses.get("RUNNING", 0)}
    finally:
        for folder in mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def store_faults(starters: int, disks: bool = True) -> dict:
    """The tracking store's faults, for the summary line."""
    concurrent = concurrent_fresh_store(starters) if starters else {"skipped": "--starters 0", "running": 0}
    full = full_disks() if disks else {"skipped": "--no-disks"}
    return {"concurrent_fresh_store": concurrent, "concurrent_fresh_store_recorded": concurrent.get("recorded"),
            "full_disks": full, "truncated_artifacts": full.get("truncated", 0),
            "running": concurrent["running"] + full.get("running", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=at_least(8), default=12, help="jobs in the sweep (>= 8)")
    parser.add_argument("--n-jobs", type=at_least(1), default=4, help="jobs run at once by the joblib launcher")
    parser.add_argument("--seed", type=at_least(0), default=0, help="seed of the fault plan")
    parser.add_argument("--rounds", type=at_least(1), default=4, help="at most this many launches of the sweep")
    parser.add_argument("--keep", default=None, help="keep the project folder here instead of a temporary one")
    parser.add_argument("--only-sweep", action="store_true", help="skip the diagnostics and Ctrl-C rounds")
    parser.add_argument("--starters", type=at_least(0), default=8, help="independent runs started at once into a fresh store (0: skip)")
    parser.add_argument("--no-disks", action="store_true", help="skip the full-disk runs (they need root)")
    args = parser.parse_args()

    project = Path(args.keep or tempfile.mkdtemp(prefix="harness-faults-"))
    project.mkdir(parents=True, exist_ok=True)
    record, plan_path = project / "record", project / "plan.json"
    plan = plan_faults(args.jobs, args.seed)
    print(f"fault plan (by seed): {json.dumps(plan)}", file=sys.stderr)
    rounds = []
    for round_number in range(1, args.rounds + 1):
        plan_path.write_text(json.dumps(plan))
        result = launch(project, args.jobs, args.n_jobs, plan_path, record)
        repaired = repair(project)
        rounds.append({"round": round_number, "exit": result.returncode, "repair": repaired})
        print(f"  round {round_number}: repair: {repaired}", file=sys.stderr)
        aborted = "TerminatedWorkerError" in result.stderr + result.stdout or result.returncode not in (0, 1)
        if not aborted:
            break
        plan = {job: fault for job, fault in plan.items() if fault["kind"] not in TRANSIENT}  # signals don't repeat

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faults")
    runs = client.search_runs([experiment.experiment_id], max_results=10000)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    parents = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    statuses = Counter(r.info.status for r in children)

    lost = 0
    history_cache: dict[tuple[str, str], set[int]] = {}
    for line in recorded(record):
        for metric in line["metrics"]:
            key = (line["run_id"], metric)
            if key not in history_cache:
                history_cache[key] = {m.step for m in client.get_metric_history(*key)}
            lost += line["step"] not in history_cache[key]

    print(f"{'run':<14} {'status':<9} {'epochs':>6}  reason")
    for run in sorted(children, key=lambda r: (int(r.data.params.get("seed", 0)), r.info.start_time)):
        reason = run.data.tags.get("harness.error", "")
        epochs = len(client.get_metric_history(run.info.run_id, "val_accuracy"))
        print(f"{'seed=' + run.data.params.get('seed', '?'):<14} {run.info.status:<9} {epochs:>6}  {reason[:90]}")
    for parent in parents:
        print(f"parent {parent.info.run_id}: {parent.info.status}")
    for item in rounds:
        print(f"round {item['round']}: sweep exit code {item['exit']}; repair: {item['repair']}")
    configs_done = {r.data.params["seed"] for r in children if r.info.status == "FINISHED"}
    diagnostics = ctrl_c = None
    if not args.only_sweep:
        diagnostics = diagnostics_round(project)
        ctrl_c = ctrl_c_round(project)
    summary = {
        "jobs": args.jobs, "rounds": len(rounds), "started": len(children),
        "finished": statuses.get("FINISHED", 0), "failed": statuses.get("FAILED", 0),
        "killed": statuses.get("KILLED", 0), "running": statuses.get("RUNNING", 0) + sum(p.info.status == "RUNNING" for p in parents),
        "configs_finished": len(configs_done), "metrics_recorded": sum(len(line["metrics"]) for line in recorded(record)),
        "metrics_lost": lost,
    }
    if diagnostics is not None and ctrl_c is not None:
        summary["running"] += diagnostics["running"] + ctrl_c["running"]
        summary.update(diagnostics_lost=diagnostics["lost"], diagnostics_records=diagnostics["records"],
                       diagnostics_duplicated=diagnostics["duplicated"], ctrl_c_sweep=ctrl_c)
    if args.starters or not args.no_disks:
        store = store_faults(args.starters, disks=not args.no_disks)
        summary["running"] += store.pop("running")
        summary.update(store)
    from harness_mlflow.artifacts import damaged_files

    summary["truncated_artifacts"] = (summary.get("truncated_artifacts") or 0) + len(damaged_files(project / "mlartifacts"))
    summary["project"] = str(project)
    if not args.keep:
        shutil.rmtree(project, ignore_errors=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

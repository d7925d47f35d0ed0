"""What recording a run in MLflow costs per run, on a tiny run.

A tiny MNIST run (``data.train_size=500 training.epochs=1``) is trained ``--repeats``
times in one process after one warm-up run (imports, the store's creation and
migration, the wheel of this project built or found in the cache). Every call into the
MLflow plugin's run hooks (run start, epoch end, extra metrics, checkpoints, run end:
context tags, params, datasets, metrics, artifacts, the LoggedModel) is timed with a
stopwatch, so the figure is the tracking plugin's own time, not the training's. The
same script runs against any version of the plugin (it wraps whatever hook
implementations the ``mlflow`` plugin registers), so two versions compare directly.

Usage: ``python benchmarks/tracking_overhead.py [--repeats 5] [--no-model]``. The last
line printed is one JSON object: the per-run seconds of each run, and their median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from arguments import at_least
from harness.plugins import load_plugins
from harness.resources import config_dir
from harness.training.experiment import run_experiment

HOOKS = ("harness_run_start", "harness_epoch_end", "harness_log_metrics", "harness_checkpoint_saved", "harness_run_end")


def timed_plugin(pm, name: str, spent: list[float]) -> None:
    """Wrap every run hook of plugin ``name`` with a stopwatch adding to ``spent[0]``."""
    for hook_name in HOOKS:
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != name:
                continue
            inner = impl.function

            def wrapper(*args, _inner=inner, **kwargs):
                started = time.perf_counter()
                try:
                    return _inner(*args, **kwargs)
                finally:
                    spent[0] += time.perf_counter() - started

            wrapper.__signature__ = __import__("inspect").signature(inner)
            impl.function = wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=at_least(1), default=5)
    parser.add_argument("--no-model", action="store_true", help="tracking.log_model=false")
    args = parser.parse_args()
    pm = load_plugins(use_env=False)
    spent = [0.0]
    timed_plugin(pm, "mlflow", spent)
    project = Path(tempfile.mkdtemp(prefix="tracking-overhead-"))
    overrides = ["data.train_size=500", "training.epochs=1", "progress=never", "name=overhead",
                 f"paths.project_dir={project}", f"paths.output_dir={project / 'out'}"]
    if args.no_model:
        overrides.append("tracking.log_model=false")
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="overhead"):
        cfg = compose("config", overrides=overrides)
    per_run, totals = [], []
    for repeat in range(args.repeats + 1):
        spent[0] = 0.0
        started = time.perf_counter()
        run_experiment(cfg, pm=pm)
        total = time.perf_counter() - started
        if repeat:  # the first run is the warm-up
            per_run.append(round(spent[0], 3))
            totals.append(round(total, 3))
        print(f"run {repeat}{' (warm-up)' if not repeat else ''}: tracking {spent[0]:.3f} s of {total:.3f} s")
    print(json.dumps({"tracking_seconds": per_run, "median_tracking_seconds": statistics.median(per_run),
                      "run_seconds": totals, "median_run_seconds": statistics.median(totals)}))


if __name__ == "__main__":
    main()

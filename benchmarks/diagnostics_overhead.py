"""What gradient-flow diagnostics cost at their default interval, on the default experiment.

The default experiment (784-256-128-10 MLP on MNIST, batch 128, float32, 430 steps per
epoch, 20 epochs) is trained with diagnostics at their default interval (``every_steps``
100: 4-5 probes per epoch). Two figures:

* **in the same run** (the headline): every call into the diagnostics code — the step
  hook's work, the probes, the weight snapshots, sending the metrics to MLflow — is
  timed with a stopwatch. The overhead is that time over the rest of the training time
  (every epoch's steps, validation and other hooks): the whole run's, and the median
  epoch's. Measured inside one run, it is immune to the machine getting busier or
  quieter between runs, which on a shared two-core machine moves whole-run timings by
  ±20 %. The two plots drawn at the end are a one-off, timed apart;
* **on against off** (``--ab``): whole runs alternating diagnostics on and off
  (``diagnostics.enabled=false``), median per-epoch wall time of each. It also catches
  indirect costs (caches the probe evicts) but needs a quiet machine to resolve 5 %.

With ``--tracking`` runs go to a temporary MLflow store (as the default experiment
does), so the figure includes sending the diagnostics' metrics; otherwise ``tracking=none``.
The reports plugin's plots and checkpoints are off: they are not what is measured.

Usage: ``python benchmarks/diagnostics_overhead.py [--epochs 20] [--tracking] [--ab --repeats 3]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from arguments import at_least
from harness import hookimpl
from harness.plugins import load_plugins
from harness.resources import config_dir
from harness.training.experiment import run_experiment
from harness_diagnostics import plots as diagnostics_plots
from harness_diagnostics import plugin as diagnostics_plugin
from harness_diagnostics import recorder as diagnostics_recorder


class Stopwatch:
    """Seconds spent inside the wrapped diagnostics functions since the last reset."""

    def __init__(self):
        self.seconds = 0.0

    def wrap(self, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


STOPWATCH, PLOTS = Stopwatch(), Stopwatch()
# Everything the diagnostics hooks do goes through these (the hooks themselves are a
# dictionary lookup around them, ~1 µs per step); wrapped once, for every run of this process.
diagnostics_recorder.Recorder.start = STOPWATCH.wrap(diagnostics_recorder.Recorder.start)
diagnostics_recorder.Recorder.after_step = STOPWATCH.wrap(diagnostics_recorder.Recorder.after_step)
diagnostics_recorder.Recorder.stopped = STOPWATCH.wrap(diagnostics_recorder.Recorder.stopped)
diagnostics_plugin.make_probe = STOPWATCH.wrap(diagnostics_plugin.make_probe)
diagnostics_plugin._flush = STOPWATCH.wrap(diagnostics_plugin._flush)
diagnostics_plots.gradient_norms = PLOTS.wrap(diagnostics_plots.gradient_norms)
diagnostics_plots.layer_profile = PLOTS.wrap(diagnostics_plots.layer_profile)


class Clock:
    """Epoch wall times (between epoch ends, every other hook included) and the
    diagnostics' share of each, of the run start and of the run end."""

    def __init__(self):
        self.marks: list[float] = []
        self.diagnostics: list[float] = []
        self.start_diagnostics = self.end_diagnostics = self.plot_seconds = 0.0

    @hookimpl(tryfirst=True)  # before the diagnostics' own run start
    def harness_run_start(self, run):
        STOPWATCH.take()
        PLOTS.take()

    @hookimpl(trylast=True)
    def harness_epoch_end(self, run, epoch, metrics):
        if len(self.marks) == 0:
            raise RuntimeError("the clock missed the run start")
        self.marks.append(time.perf_counter())
        self.diagnostics.append(STOPWATCH.take())


class AfterOthers:
    """Registered after :class:`Clock`: its trylast hooks run after every other plugin's."""

    def __init__(self, clock: Clock):
        self.clock = clock

    @hookimpl(trylast=True)
    def harness_run_start(self, run):
        self.clock.marks.append(time.perf_counter())
        self.clock.start_diagnostics = STOPWATCH.take()

    @hookimpl(trylast=True)
    def harness_run_end(self, run, status, error):
        self.clock.end_diagnostics = STOPWATCH.take()  # the last metrics sent
        self.clock.plot_seconds = PLOTS.take()


def one_run(enabled: bool, epochs: int, tracking: bool, workdir: Path) -> dict:
    overrides = [
        "progress=never", f"paths.project_dir={workdir}", f"paths.output_dir={workdir / ('on' if enabled else 'off')}",
        f"training.epochs={epochs}", "reports.plots=false", "training.checkpoint_every=0",
        f"++diagnostics.enabled={'true' if enabled else 'false'}",
        *(["tracking.log_model=false", "tracking.log_checkpoints=false"] if tracking else ["tracking=none"]),
    ]
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="benchmark"):
        cfg = compose("config", overrides=overrides)
    pm = load_plugins(use_env=False)
    clock = Clock()
    pm.register(clock, name="benchmark-clock")
    pm.register(AfterOthers(clock), name="benchmark-after-others")
    run = run_experiment(cfg, pm=pm)
    walls = [b - a for a, b in zip(clock.marks, clock.marks[1:])]
    return {
        "epoch_seconds": walls,
        "diagnostics_seconds": clock.diagnostics,
        "run_start_diagnostics_seconds": clock.start_diagnostics,
        "run_end_diagnostics_seconds": clock.end_diagnostics,
        "plot_seconds": clock.plot_seconds,
        "records": len(run.state["diagnostics"].records) if enabled else 0,
        "test_accuracy": run.summary["test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=at_least(1), default=20, help="epochs per run (default: 20, the default experiment's)")
    parser.add_argument("--ab", action="store_true", help="also time whole runs alternating diagnostics on and off")
    parser.add_argument("--repeats", type=at_least(1), default=3, help="on/off pairs with --ab")
    parser.add_argument("--tracking", action="store_true", help="track the runs in a temporary MLflow store")
    args = parser.parse_args()
    summary: dict = {"benchmark": "diagnostics_overhead", "every_steps": 100,
                     "tracking": "mlflow" if args.tracking else "none", "epochs_per_run": args.epochs}
    with tempfile.TemporaryDirectory(prefix="diagnostics-bench-") as tmp:
        watched = one_run(True, args.epochs, args.tracking, Path(tmp))
        walls, spent = watched["epoch_seconds"], watched["diagnostics_seconds"]
        for epoch, (wall, used) in enumerate(zip(walls, spent), 1):
            print(f"epoch {epoch}: {wall:.3f} s, of which diagnostics {1000 * used:.1f} ms ({100 * used / (wall - used):.2f} %)")
        total = sum(spent) + watched["run_start_diagnostics_seconds"] + watched["run_end_diagnostics_seconds"]
        rest = sum(walls) - sum(spent)
        summary.update(
            records_per_run=watched["records"],
            run_overhead_percent=round(100 * total / rest, 2),
            diagnostics_seconds_per_run=round(total, 3),
            training_seconds_without_diagnostics=round(rest, 3),
            median_epoch_overhead_percent=round(100 * statistics.median(u / (w - u) for w, u in zip(walls, spent)), 2),
            step0_record_seconds=round(watched["run_start_diagnostics_seconds"], 3),
            last_send_seconds=round(watched["run_end_diagnostics_seconds"], 3),
            plot_seconds=round(watched["plot_seconds"], 3),
        )
        print(f"in the same run: diagnostics took {total:.3f} s against {rest:.3f} s of everything else -> "
              f"{summary['run_overhead_percent']:.2f} % (median epoch {summary['median_epoch_overhead_percent']:.2f} %; target <= 5 %); "
              f"plus {summary['plot_seconds']:.3f} s for the two plots at the end")
        if args.ab:
            results: dict[bool, list[dict]] = {True: [], False: []}
            for repeat in range(args.repeats):
                for enabled in (False, True) if repeat % 2 == 0 else (True, False):
                    result = one_run(enabled, args.epochs, args.tracking, Path(tmp))
                    results[enabled].append(result)
                    print(f"repeat {repeat + 1} diagnostics {'on ' if enabled else 'off'}: epochs "
                          + " ".join(f"{s:.3f}" for s in result["epoch_seconds"])
                          + " s", flush=True)
            steady = lambda enabled: [s for r in results[enabled] for s in r["epoch_seconds"][1:]]
            on, off = statistics.median(steady(True)), statistics.median(steady(False))
            summary.update(
                ab_repeats=args.repeats,
                ab_epoch_seconds_off_median=round(off, 4),
                ab_epoch_seconds_on_median=round(on, 4),
                ab_overhead_percent=round(100 * (on / off - 1), 2),
                ab_same_test_accuracy=[r["test_accuracy"] for r in results[True]] == [r["test_accuracy"] for r in results[False]],
            )
            print(f"on against off, median of {len(steady(True))} epochs each: off {off:.3f} s, on {on:.3f} s "
                  f"-> {summary['ab_overhead_percent']:+.2f} %")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

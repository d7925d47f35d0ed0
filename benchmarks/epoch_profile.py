"""Where an epoch of the hand-written engine goes: GEMMs, optimizer, activations and loss...

The real training loop runs (``run_experiment``) with timers wrapped around the
engine's pieces for the duration of the profile, so the figures come from the same code
path as training, not from a re-implementation:

* ``gemm``: every ``np.matmul`` of the dense layers (forward ``X W``, backward ``Xᵀ dZ``
  and ``dZ Wᵀ``);
* ``bias_reductions``: the rest of the dense layers (bias add, bias gradient ``Σ dZ``,
  buffer bookkeeping);
* ``activations_loss``: activation and dropout layers, forward and backward, and the loss;
* ``optimizer``: ``optimizer.step`` (clipping, weight decay, the update);
* ``gather``: copying the shuffled batch out of the training set (``augment``: random
  shifts, when on);
* ``other``: what is left of the epoch (loop bookkeeping, accuracy counting, hooks).

The timers cost about 10 µs per step; the profiled epoch is reported next to an
unprofiled one.

Usage: ``python benchmarks/epoch_profile.py [--epochs N] [overrides...]``; used by
``train_mlp.py`` for its breakdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager

import numpy as np

from arguments import at_least

CATEGORIES = ("gemm", "bias_reductions", "activations_loss", "optimizer", "gather", "augment", "other")


class Clock:
    """Seconds per category, accumulated between ``take()`` calls."""

    def __init__(self, clock=time.perf_counter) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.clock = clock

    def timed(self, category: str, function):
        seconds = self.seconds
        perf_counter = self.clock

        def wrapper(*args, **kwargs):
            start = perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[category] += perf_counter() - start

        return wrapper

    def take(self) -> dict[str, float]:
        taken = dict(self.seconds)
        self.seconds.clear()
        return taken


class _TimedNumpy:
    """NumPy with ``matmul`` timed, swapped in as the dense layers' module-level ``np``."""

    def __init__(self, clock: Clock):
        self.matmul = clock.timed("gemm", np.matmul)

    def __getattr__(self, name):
        return getattr(np, name)


@contextmanager
def _patched(owner, name: str, value):
    original = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextmanager
def instrumented(clock: Clock):
    """Timers around the engine's pieces, for the duration of the block."""
    import harness.training.loop as loop
    import harness_backprop.layers as layers
    import harness_datasets.images as images
    from harness_backprop import activations, losses
    from harness_optim.optimizers import Optimizer

    with ExitStack() as stack:
        enter = stack.enter_context
        enter(_patched(layers, "np", _TimedNumpy(clock)))
        for method in ("forward", "backward"):
            enter(_patched(layers.Dense, method, clock.timed("dense", layers.Dense.__dict__[method])))
            enter(_patched(layers.Dropout, method, clock.timed("activations", layers.Dropout.__dict__[method])))
            for cls in (activations.ReLU, activations.LeakyReLU, activations.Sigmoid, activations.Tanh):
                enter(_patched(cls, method, clock.timed("activations", cls.__dict__[method])))
            for cls in (losses.SoftmaxCrossEntropy, losses.MeanSquaredError):
                enter(_patched(cls, method, clock.timed("loss", cls.__dict__[method])))
        enter(_patched(Optimizer, "step", clock.timed("optimizer", Optimizer.__dict__["step"])))
        enter(_patched(loop, "gather_rows", clock.timed("gather", loop.gather_rows)))
        enter(_patched(loop, "evaluate", clock.timed("validation", loop.evaluate)))

        def timed_shifts(max_shift, *args, **kwargs):
            return clock.timed("augment", original_shifts(max_shift, *args, **kwargs))

        original_shifts = images.random_shifts
        enter(_patched(images, "random_shifts", timed_shifts))
        yield


def breakdown(raw: dict[str, float], epoch_seconds: float) -> dict[str, float]:
    """The categories of :data:`CATEGORIES` from one epoch's raw timer sums."""
    parts = {
        "gemm": raw.get("gemm", 0.0),
        "bias_reductions": raw.get("dense", 0.0) - raw.get("gemm", 0.0),
        "activations_loss": raw.get("activations", 0.0) + raw.get("loss", 0.0),
        "optimizer": raw.get("optimizer", 0.0),
        "gather": raw.get("gather", 0.0),
        "augment": raw.get("augment", 0.0),
    }
    parts["other"] = epoch_seconds - sum(parts.values())
    return parts


def profile(overrides: list[str], epochs: int = 3, cpu_time: bool = False) -> dict:
    """Median seconds per category over ``epochs`` profiled epochs of the configured run.

    The first epoch is left out of the medians when there are more than one (it
    allocates the scratch arrays and warms the caches). ``cpu_time`` times the pieces
    in CPU seconds of the training thread instead of wall seconds: steadier on a busy
    machine, and the same thing when BLAS runs on one thread; ``other`` is then left out.
    """
    from harness import hookimpl
    from harness.training.experiment import run_experiment

    clock = Clock(time.thread_time if cpu_time else time.perf_counter)
    per_epoch: list[dict[str, float]] = []
    steps: list[int] = []

    class EpochTimer:
        @hookimpl
        def harness_epoch_start(self, run, epoch):
            clock.take()
            self.cpu_start = time.thread_time()

        @hookimpl
        def harness_epoch_end(self, run, epoch, metrics):
            raw = clock.take()
            seconds = metrics["epoch_seconds"]
            if cpu_time:  # the epoch's CPU seconds, validation left out as in epoch_seconds
                seconds = time.thread_time() - self.cpu_start - raw.pop("validation", 0.0)
            per_epoch.append(breakdown(raw, seconds) | {"epoch": seconds})
            steps.append(run.steps_per_epoch)

    from runs import compose_run

    cfg, pm = compose_run([*overrides, f"training.epochs={epochs}"])
    pm.register(EpochTimer(), name="epoch-profile")
    with instrumented(clock):
        run_experiment(cfg, pm=pm)
    kept = per_epoch[1:] or per_epoch
    return {key: statistics.median(e[key] for e in kept) for key in (*CATEGORIES, "epoch")} | {"steps": steps[-1]}


def format_breakdown(parts: dict[str, float]) -> list[tuple[str, str]]:
    epoch, steps = parts["epoch"], parts["steps"]
    rows = []
    for key in CATEGORIES:
        if key == "augment" and not parts[key]:
            continue
        rows.append((f"  {key}", f"{parts[key]:.3f} s  {100 * parts[key] / epoch:5.1f} %  {1e6 * parts[key] / steps:6.1f} µs/step"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=at_least(1), default=3)
    parser.add_argument("--cpu-time", action="store_true", help="CPU seconds of the training thread, not wall seconds")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    parts = profile(args.overrides, args.epochs, args.cpu_time)
    print(f"profiled epoch: {parts['epoch']:.3f} s, {parts['steps']} steps")
    for name, value in format_breakdown(parts):
        print(f"{name:<20} {value}")
    print(json.dumps({k: round(v, 4) for k, v in parts.items()}))


if __name__ == "__main__":
    main()

"""How fast the hand-written engine trains the default MLP, against the machine's GEMM bound.

Each of ``--runs`` runs measures, on the same machine state:

* seconds per training epoch of the default experiment (784-256-128-10, batch 128,
  float32, 20 epochs), median over its epochs (validation is not timed);
* the float32 GEMM rate for exactly the matrix products one epoch performs (same
  shapes, same transpositions), hence the epoch's lower bound and our ratio to it. The
  bound is timed after every epoch (outside the timed part), so each epoch is compared
  with a bound taken seconds from it: the machine's speed drifts by ±25 % from one
  second to the next, and a bound timed once, in half a second, made a run's ratio swing
  with the moment it happened to be taken. A run's ratio is the median of its epochs';
* training seconds until the test accuracy first reaches 98.0 %, for the default
  experiment and for ``+experiment=mnist_fast`` (test accuracy is scored after every
  epoch, outside the timed part, only to find that moment: neither run looks at it);
* where an epoch goes (``epoch_profile.py``: GEMMs, bias and reductions, activations and
  loss, optimizer, batch gather, the rest);
* optionally, with ``--torch-python``, the same model and loop in PyTorch run in another
  interpreter with as many threads as ours (the project never depends on torch), one
  PyTorch epoch after each of ours (``torch_epochs.py``); ours over PyTorch is the median
  of the epochs' ratios.

The machine may be shared: each run prints its own figures and the load average around
it, ratios are taken inside a run, and the last line (one JSON object) gives the medians
over the runs and every run's figures.

Usage: ``python benchmarks/train_mlp.py [--runs N] [--threads N] [--torch-python PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from arguments import at_least  # noqa: E402
from epoch_profile import CATEGORIES, format_breakdown, profile  # noqa: E402
from harness import hookimpl  # noqa: E402
from harness.threads import blas_threads, describe_blas, limited  # noqa: E402
from runs import train_with_probe  # noqa: E402
from torch_epochs import ReferenceFailed, TorchEpochs  # noqa: E402

TARGET = 0.98


def gemm_shapes(batch_sizes: list[int], dims: list[int]) -> list[tuple[str, int, int, int]]:
    """(layout, m, k, n) of every matrix product one epoch of the engine performs."""
    shapes = []
    for m in batch_sizes:
        for i, (fan_in, fan_out) in enumerate(zip(dims, dims[1:])):
            shapes.append(("NN", m, fan_in, fan_out))          # forward   X @ W
            shapes.append(("TN", fan_in, m, fan_out))          # backward  Xᵀ @ dZ
            if i > 0:
                shapes.append(("NT", m, fan_out, fan_in))      # backward  dZ @ Wᵀ (not for layer 0)
    return shapes


def time_gemm(layout: str, m: int, k: int, n: int, repeats: int) -> float:
    """Median seconds of one float32 product of the given shape and layout."""
    rng = np.random.default_rng(0)
    if layout == "TN":
        a = rng.standard_normal((k, m), dtype=np.float32).T
    else:
        a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k), dtype=np.float32).T if layout == "NT" else rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    for _ in range(5):
        np.matmul(a, b, out=out)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            np.matmul(a, b, out=out)
        samples.append((time.perf_counter() - start) / 10)
    return statistics.median(samples)


def gemm_bound(n_train: int, batch: int, dims: list[int], repeats: int) -> tuple[float, float, float]:
    """(epoch GEMM seconds, epoch FLOPs, GFLOP/s) for the epoch's exact products."""
    full, rest = divmod(n_train, batch)
    counts = {batch: full, **({rest: 1} if rest else {})}
    cache: dict[tuple, float] = {}
    seconds = flops = 0.0
    for m, count in counts.items():
        for shape in gemm_shapes([m], dims):
            if shape not in cache:
                cache[shape] = time_gemm(*shape, repeats=repeats)
            _, mm, kk, nn = shape
            seconds += count * cache[shape]
            flops += count * 2.0 * mm * kk * nn
    return seconds, flops, flops / seconds / 1e9


class AdjacentBound:
    """Times the epoch's GEMM bound after every epoch of a run (outside its timed part)."""

    def __init__(self, repeats: int) -> None:
        self.repeats = repeats
        self.shape: tuple[int, int, list[int]] | None = None
        self.seconds: list[float] = []
        self.flops = 0.0

    @hookimpl
    def harness_run_start(self, run, model):
        self.shape = (run.sizes["train"], run.batch_size, model_dims(model))

    @hookimpl
    def harness_epoch_end(self):
        assert self.shape is not None, "harness_run_start comes first"
        seconds, self.flops, _ = gemm_bound(*self.shape, repeats=self.repeats)
        self.seconds.append(seconds)


def model_dims(model) -> list[int]:
    """Input width, then every dense layer's width, read from the trained weights
    (a spec's ``units: auto`` is only resolved there)."""
    weights = [value for _, value, _ in model.named_parameters() if value.ndim == 2]
    return [weights[0].shape[0]] + [w.shape[1] for w in weights]


def start_reference(args) -> TorchEpochs | None:
    """The PyTorch reference process, when ``--torch-python`` names an interpreter."""
    if not args.torch_python:
        return None
    try:
        return TorchEpochs(args.torch_python, blas_threads() or 1)
    except ReferenceFailed as exc:
        return reference_failed(exc)


def reference_failed(reason) -> None:
    """Tell, in one line, why this run has no PyTorch figures; the run goes on without them."""
    print(f"PyTorch reference failed: {reason}", file=sys.stderr)


def one_run(args, threads: list[str]) -> dict:
    """Every figure of one run, measured back to back."""
    load_before = os.getloadavg()[0]
    bound = AdjacentBound(args.repeats)
    reference = start_reference(args)
    # pluggy calls the plugin registered last first: the bound right after our epoch, then PyTorch's
    observers = (bound,) if reference is None else (reference, bound)
    try:
        default, default_probe = train_with_probe([*threads, *args.overrides], observers=observers)
    finally:
        if reference is not None:
            reference.close()
    if reference is not None and reference.failure is not None:
        reference = reference_failed(reference.failure)
    epoch_seconds = [e["epoch_seconds"] for e in default.history]
    sec_per_epoch = statistics.median(epoch_seconds)
    ratios = [epoch / gemm for epoch, gemm in zip(epoch_seconds, bound.seconds, strict=True)]
    bound_sec = statistics.median(bound.seconds)
    torch_seconds = reference.seconds if reference is not None else []
    over_torch = [ours / torch for ours, torch in zip(epoch_seconds, torch_seconds, strict=True)]
    epochs_98, time_98 = default_probe.time_to(TARGET)
    fast, fast_probe = train_with_probe(["+experiment=mnist_fast", *threads])
    epochs_98_fast, time_98_fast = fast_probe.time_to(TARGET)
    parts = profile([*threads, *args.overrides], epochs=3)
    dims = model_dims(default.model)
    return {
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "sec_per_epoch": round(sec_per_epoch, 4),
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "gemm_bound_sec": round(bound_sec, 4),
        "gemm_bound_seconds": [round(s, 4) for s in bound.seconds],
        "ratio": round(statistics.median(ratios), 3),
        "gemm_gflops": round(bound.flops / bound_sec / 1e9, 1),
        "epoch_gflop": round(bound.flops / 1e9, 2),
        "time_to_98_sec": None if time_98 is None else round(time_98, 3),
        "epochs_to_98": epochs_98,
        "test_accuracy": round(default.summary["test_accuracy"], 4),
        "test_accuracy_per_epoch": [round(e["test_accuracy"], 4) for e in default_probe.epochs],
        "time_to_98_sec_fast": None if time_98_fast is None else round(time_98_fast, 3),
        "epochs_to_98_fast": epochs_98_fast,
        "test_accuracy_fast": round(fast.summary["test_accuracy"], 4),
        "fast_sec_per_epoch": round(statistics.median(e["epoch_seconds"] for e in fast.history), 4),
        "breakdown": {k: round(v, 4) for k, v in parts.items()},
        "torch_sec_per_epoch": round(statistics.median(torch_seconds), 4) if torch_seconds else None,
        "torch_epoch_seconds": [round(s, 4) for s in torch_seconds],
        "ours_over_torch": round(statistics.median(over_torch), 3) if over_torch else None,
        "torch": reference.about if reference is not None else None,
        "dims": dims,
        "batch": default.run.batch_size,
    }


def median_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r[key] is not None]
    if len(values) < len(runs):  # a run that never got there counts as the slowest
        values += [float("inf")] * (len(runs) - len(values))
    if not values:
        return None
    median = statistics.median(values)
    return None if median == float("inf") else median  # most runs never got there


def reached(seconds: float | None, epochs: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f} s (epoch {epochs})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=at_least(1), default=5, help="independent runs; the figures are their medians")
    parser.add_argument("--repeats", type=at_least(1), default=10,
                        help="timing samples per GEMM shape, after every epoch")
    parser.add_argument("--threads", type=at_least(1), default=None, help="training.threads for every run (default: the library's)")
    parser.add_argument("--torch-python", default=None, help="an interpreter with torch, for the reference")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the default run")
    args = parser.parse_args()
    threads = [f"training.threads={args.threads}"] if args.threads else []

    runs = []
    with limited(args.threads):
        blas = describe_blas()
        print(f"BLAS: {blas}; {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}", flush=True)
        header = (f"{'run':>3} {'load':>10} {'s/epoch':>8} {'bound':>7} {'ratio':>6} {'torch':>7} {'ours/torch':>10} "
                  f"{'t98':>6} {'ep':>3} {'t98 fast':>8} {'ep':>3}")
        for i in range(args.runs):
            run = one_run(args, threads)
            runs.append(run)
            if i == 0:
                print(header)
            torch_s = f"{run['torch_sec_per_epoch']:.3f}" if run["torch_sec_per_epoch"] else "-"
            ours_torch = f"{run['ours_over_torch']:.2f}x" if run["ours_over_torch"] else "-"
            t98 = f"{run['time_to_98_sec']:.2f}" if run["time_to_98_sec"] is not None else "never"
            t98f = f"{run['time_to_98_sec_fast']:.2f}" if run["time_to_98_sec_fast"] is not None else "never"
            print(f"{i + 1:>3} {run['load_before']:>4.1f}->{run['load_after']:<4.1f} {run['sec_per_epoch']:8.3f} "
                  f"{run['gemm_bound_sec']:7.3f} {run['ratio']:6.2f} {torch_s:>7} {ours_torch:>10} {t98:>6} "
                  f"{run['epochs_to_98'] or '-':>3} {t98f:>8} {run['epochs_to_98_fast'] or '-':>3}", flush=True)

    last = runs[-1]
    breakdown = {k: statistics.median(r["breakdown"][k] for r in runs) for k in (*CATEGORIES, "epoch", "steps")}
    summary = {
        "runs": len(runs),
        "sec_per_epoch": median_of(runs, "sec_per_epoch"),
        "gemm_bound_sec": median_of(runs, "gemm_bound_sec"),
        "ratio": median_of(runs, "ratio"),
        "gemm_gflops": median_of(runs, "gemm_gflops"),
        "epoch_gflop": last["epoch_gflop"],
        "time_to_98_sec": median_of(runs, "time_to_98_sec"),
        "epochs_to_98": median_of(runs, "epochs_to_98"),
        "time_to_98_sec_fast": median_of(runs, "time_to_98_sec_fast"),
        "epochs_to_98_fast": median_of(runs, "epochs_to_98_fast"),
        "test_accuracy": last["test_accuracy"],
        "test_accuracy_fast": last["test_accuracy_fast"],
        "torch_sec_per_epoch": median_of(runs, "torch_sec_per_epoch") if last["torch"] else None,
        "ours_over_torch": median_of(runs, "ours_over_torch") if last["torch"] else None,
        "breakdown": {k: round(v, 4) for k, v in breakdown.items()},
        "blas": blas,
        "per_run": runs,
    }
    print()
    rows = [
        ("model", "-".join(map(str, last["dims"])) + f", batch {last['batch']}, float32; {blas}"),
        ("seconds per epoch (median of runs)", f"{summary['sec_per_epoch']:.3f}"),
        ("epoch GEMM work", f"{last['epoch_gflop']:.1f} GFLOP at {summary['gemm_gflops']:.1f} GFLOP/s"),
        ("GEMM lower bound per epoch", f"{summary['gemm_bound_sec']:.3f} s"),
        ("ratio epoch / bound (median)", f"{summary['ratio']:.2f}"),
        ("time to 98 % test, default", reached(summary["time_to_98_sec"], summary["epochs_to_98"])),
        ("time to 98 % test, mnist_fast", reached(summary["time_to_98_sec_fast"], summary["epochs_to_98_fast"])),
        ("test accuracy, default / fast (last run)", f"{100 * last['test_accuracy']:.2f} % / {100 * last['test_accuracy_fast']:.2f} %"),
    ]
    if last["torch"]:
        rows.append(("PyTorch seconds per epoch (median)", f"{summary['torch_sec_per_epoch']:.3f} ({last['torch']})"))
        rows.append(("ours / PyTorch (median of runs)", f"{summary['ours_over_torch']:.2f}x"))
    rows.append((f"profiled epoch ({breakdown['epoch']:.3f} s), median", ""))
    rows += format_breakdown(breakdown)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

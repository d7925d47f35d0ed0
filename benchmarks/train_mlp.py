"""How fast the hand-written engine trains the default MLP, against the machine's GEMM bound.

One run measures, on the same machine state:

* seconds per training epoch of the default experiment (784-256-128-10, batch 128,
  float32), median over the epochs (validation is not timed);
* the float32 GEMM rate for exactly the matrix products one epoch performs (same
  shapes, same transpositions), hence the epoch's lower bound and our ratio to it;
* training seconds until the test accuracy first reaches 98.0 % (test accuracy is
  evaluated after every epoch here, outside the timed part, for this figure only);
* optionally, with ``--torch-python``, the same model and loop in PyTorch run in
  another interpreter (the project never depends on torch).

Usage: ``python benchmarks/train_mlp.py [--epochs N] [--torch-python PATH]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from harness import hookimpl
from harness.plugins import load_plugins
from harness.resources import config_dir
from harness.training.evaluation import evaluate
from harness.training.experiment import run_experiment

HERE = Path(__file__).resolve().parent
TARGET = 0.98


class TestAccuracyProbe:
    """Scores the test set after every epoch (untimed) to find when 98 % is first reached."""

    def __init__(self, test_x: np.ndarray, test_y: np.ndarray):
        self.test_x, self.test_y = test_x, test_y
        self.accuracies: list[float] = []

    @hookimpl
    def harness_epoch_end(self, run, epoch, metrics):
        _, accuracy, _ = evaluate(run.model, self.test_x, self.test_y, 5000)
        self.accuracies.append(accuracy)


def train_default(epochs: int, overrides: list[str]):
    from harness_datasets.mnist import load_mnist

    arrays = load_mnist()
    test_x = arrays.test_images.reshape(10_000, -1).astype(np.float32) * np.float32(1 / 255)
    test_y = arrays.test_labels.astype(np.int64)
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="benchmark"):
        cfg = compose("config", overrides=[
            "tracking=none", "progress=never", "diagnostics.enabled=false", "reports.plots=false",
            "training.checkpoint_every=0", "paths.project_dir=.", "paths.output_dir=.",
            f"training.epochs={epochs}", *overrides,
        ])
    pm = load_plugins(use_env=False)
    probe = TestAccuracyProbe(test_x, test_y)
    pm.register(probe, name="benchmark-probe")
    run = run_experiment(cfg, pm=pm)
    return run, probe.accuracies


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


def torch_reference(python: str, epochs: int) -> dict | None:
    result = subprocess.run(
        [python, str(HERE / "reference_torch.py"), "--epochs", str(epochs)],
        capture_output=True, text=True, env={**os.environ},
    )
    if result.returncode != 0:
        print(f"PyTorch reference failed: {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15, help="epochs of the default experiment to time")
    parser.add_argument("--repeats", type=int, default=30, help="timing samples per GEMM shape")
    parser.add_argument("--torch-python", default=None, help="an interpreter with torch, for the reference")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the timed run")
    args = parser.parse_args()

    run, test_acc = train_default(args.epochs, args.overrides)
    epoch_seconds = [e["epoch_seconds"] for e in run.history]
    sec_per_epoch = statistics.median(epoch_seconds)
    dims = [784] + [layer["units"] for layer in run.config.model.layers if layer["type"] == "dense"]
    bound, flops, gflops = gemm_bound(run.sizes["train"], run.batch_size, dims, args.repeats)
    reached = next((i for i, acc in enumerate(test_acc) if acc >= TARGET), None)
    time_to_98 = sum(epoch_seconds[: reached + 1]) if reached is not None else None
    reference = torch_reference(args.torch_python, min(args.epochs, 5)) if args.torch_python else None

    rows = [
        ("model", "-".join(map(str, dims)) + f", batch {run.batch_size}, {run.config.dtype}"),
        ("training examples per epoch", f"{run.sizes['train']:,}"),
        ("seconds per epoch (median)", f"{sec_per_epoch:.3f}  (epochs: {', '.join(f'{s:.2f}' for s in epoch_seconds)})"),
        ("epoch GEMM work", f"{flops / 1e9:.1f} GFLOP"),
        ("float32 GEMM rate, same shapes", f"{gflops:.1f} GFLOP/s"),
        ("GEMM lower bound per epoch", f"{bound:.3f} s"),
        ("ratio epoch / bound", f"{sec_per_epoch / bound:.2f}"),
        ("test accuracy per epoch", ", ".join(f"{100 * a:.2f}" for a in test_acc)),
        ("first epoch at >= 98 %", "not reached" if reached is None else f"{reached + 1} ({time_to_98:.2f} s of training)"),
        ("final test accuracy (best val epoch)", f"{100 * run.summary['test_accuracy']:.2f} %"),
    ]
    if reference:
        rows.append(("PyTorch seconds per epoch (median)", f"{reference['sec_per_epoch']:.3f}  (torch {reference['torch']}, {reference['threads']} threads)"))
        rows.append(("PyTorch / ours", f"{reference['sec_per_epoch'] / sec_per_epoch:.2f}x"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    summary = {
        "sec_per_epoch": round(sec_per_epoch, 4),
        "gemm_bound_sec": round(bound, 4),
        "ratio": round(sec_per_epoch / bound, 3),
        "gemm_gflops": round(gflops, 1),
        "epoch_gflop": round(flops / 1e9, 2),
        "time_to_98_sec": None if time_to_98 is None else round(time_to_98, 2),
        "epochs_to_98": None if reached is None else reached + 1,
        "test_accuracy": round(run.summary["test_accuracy"], 4),
        "torch_sec_per_epoch": reference["sec_per_epoch"] if reference else None,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

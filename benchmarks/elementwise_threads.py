"""Can elementwise work use the second core? The momentum update, on one thread and split in two.

NumPy's ufuncs run on one thread, so between two matrix products the second core only
waits. This script times the optimizer's real update (``harness_optim``'s momentum rule
on one flat array of parameters, as the engine packs them) two ways:

* ``single``: one call over the whole array, as training does;
* ``split``: the two halves at once, the second on a worker thread (NumPy releases the
  GIL inside a ufunc), the same arithmetic on every element, hence the same bits;

each in two situations: ``idle`` (nothing ran just before) and ``after_gemm`` (right
after the model's first-layer product with the run's BLAS threads, as in training, where
OpenBLAS's threads keep spinning on the other cores for a while after each product).
Each round times every variant (median of ``--steps`` updates) one after the other; the
ratio split / single is taken inside a round, and the figures are medians over rounds.

Usage: ``python benchmarks/elementwise_threads.py [--rounds N] [--steps N] [--sizes N,N]
[--threads N]`` (sizes: parameter counts, by default the default model's and
``mnist_best``'s; threads: BLAS threads for the product, by default the library's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arguments import at_least, integers  # noqa: E402
from harness.threads import describe_blas, limited  # noqa: E402
from harness_optim.optimizers import Momentum  # noqa: E402

DEFAULT_SIZES = (235_146, 1_276_810)  # 784-256-128-10 and 784-800-800-10 with biases


class Update:
    """One flat parameter array, its gradient, and a momentum optimizer for each way."""

    def __init__(self, size: int, pool: ThreadPoolExecutor) -> None:
        rng = np.random.default_rng(0)
        self.grad = (rng.standard_normal(size, dtype=np.float32) * np.float32(1e-3))
        self.pool = pool
        self.half = size // 2 - (size // 2) % 16  # both halves start on a 64-byte boundary
        self.single_w = rng.standard_normal(size, dtype=np.float32)
        self.split_w = self.single_w.copy()
        self.single_opt = Momentum(lr=0.01, momentum=0.9)
        self.split_opt = Momentum(lr=0.01, momentum=0.9)

    def single(self) -> None:
        self.single_opt.update("all", self.single_w, self.grad)

    def split(self) -> None:
        h = self.half
        second = self.pool.submit(self.split_opt.update, "second", self.split_w[h:], self.grad[h:])
        self.split_opt.update("first", self.split_w[:h], self.grad[:h])
        second.result()

    def same_bits(self) -> bool:
        """Both ways took as many steps: their weights must agree to the last bit."""
        return bool(np.array_equal(self.single_w.view(np.uint32), self.split_w.view(np.uint32)))


def median_update_seconds(update, steps: int, gemm) -> float:
    samples = []
    for _ in range(steps):
        if gemm is not None:
            gemm()
        start = time.perf_counter()
        update()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def first_layer_gemm(batch: int = 128, fan_in: int = 784, fan_out: int = 256):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, fan_in), dtype=np.float32)
    w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
    out = np.empty((batch, fan_out), dtype=np.float32)
    return lambda: np.matmul(x, w, out=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=at_least(1), default=7, help="rounds; figures are medians over them")
    parser.add_argument("--steps", type=at_least(1), default=200, help="updates timed per variant and round")
    parser.add_argument("--sizes", type=integers(32), default=",".join(map(str, DEFAULT_SIZES)), help="parameter counts, comma-separated")
    parser.add_argument("--threads", type=at_least(1), default=None, help="BLAS threads (default: the library's)")
    args = parser.parse_args()
    sizes = args.sizes
    gemm = first_layer_gemm()
    results = []
    with limited(args.threads), ThreadPoolExecutor(max_workers=1) as pool:
        blas = describe_blas()
        print(f"BLAS: {blas}; {os.cpu_count()} cores; load average: {os.getloadavg()[0]:.2f}")
        for size in sizes:
            update = Update(size, pool)
            rounds: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for situation, before in (("idle", None), ("after_gemm", gemm)):
                    single = median_update_seconds(update.single, args.steps, before)
                    split = median_update_seconds(update.split, args.steps, before)
                    rounds.setdefault(f"{situation}_single_us", []).append(single * 1e6)
                    rounds.setdefault(f"{situation}_split_us", []).append(split * 1e6)
                    rounds.setdefault(f"{situation}_split_over_single", []).append(split / single)
            row = {"parameters": size, **{k: round(statistics.median(v), 3) for k, v in rounds.items()},
                   "same_bits": update.same_bits()}
            results.append(row)
            print(f"{size:>10,} parameters: idle {row['idle_single_us']:7.1f} µs one thread, "
                  f"{row['idle_split_us']:7.1f} µs split (×{row['idle_split_over_single']:.2f}); "
                  f"after a GEMM {row['after_gemm_single_us']:7.1f} µs, {row['after_gemm_split_us']:7.1f} µs "
                  f"(×{row['after_gemm_split_over_single']:.2f}); same bits: {row['same_bits']}", flush=True)
    print(json.dumps({"rounds": args.rounds, "steps": args.steps, "blas": blas, "sizes": results}))


if __name__ == "__main__":
    main()

"""``benchmarks/train_mlp.py`` runs, tiny: every figure issue 15 judges is in its last-line
JSON. Speed is what the benchmark prints, never asserted here."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains mnist_fast (2 epochs of MNIST) besides the tiny default run

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_mlp.py"
KEYS = {"sec_per_epoch", "gemm_bound_sec", "ratio", "time_to_98_sec", "time_to_98_sec_fast",
        "ours_over_torch", "breakdown", "per_run"}


def test_the_training_benchmark_reports_every_figure_of_issue_15():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--repeats", "1", "data.train_size=2000", "training.epochs=2"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert set(summary) >= KEYS
    run = summary["per_run"][0]
    assert run["dims"] == [784, 256, 128, 10]  # the output layer's `units: auto` resolved from the weights
    assert len(run["epoch_seconds"]) == 2
    assert len(run["gemm_bound_seconds"]) == 2  # the bound is timed after each epoch, next to it
    per_epoch = [e / b for e, b in zip(run["epoch_seconds"], run["gemm_bound_seconds"])]
    assert summary["ratio"] == pytest.approx(statistics.median(per_epoch), rel=0.01)
    assert run["gemm_bound_sec"] == pytest.approx(statistics.median(run["gemm_bound_seconds"]), rel=0.01)
    assert summary["time_to_98_sec"] is None  # 2,000 images for two epochs never reach 98 %: no Infinity
    assert summary["epochs_to_98_fast"] == 2 and summary["time_to_98_sec_fast"] > 0
    assert summary["ours_over_torch"] is None  # no --torch-python given
    assert any(line.startswith("time to 98 % test, default") and line.endswith("never") for line in lines)
    assert summary["breakdown"]["steps"] > 0

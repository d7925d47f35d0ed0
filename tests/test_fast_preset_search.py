"""``benchmarks/fast_preset_search.py``, the search behind ``mnist_fast``: its report reads
the recorded stages, and ``--time`` trains the finalists round after round (tiny here).
Speed is what the script prints, never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "fast_preset_search.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_the_report_marks_the_preset_s_recipe_as_qualifying():
    done = run("--report", str(ROOT / "benchmarks" / "results" / "fast_preset_search_stage4.jsonl"))
    assert done.returncode == 0, done.stderr[-2000:]
    chosen = [line for line in done.stdout.splitlines() if "gd.batch_size=256" in line and "optimizer.lr=0.5" in line]
    assert len(chosen) == 1 and chosen[0].startswith("*")  # mean validation accuracy >= 98.0 %
    assert re.search(r"\s2\s+\S+\s+97\.86\s+98\.05\s", chosen[0])  # 2 epochs; min and mean as the preset says


@pytest.mark.slow
def test_time_trains_each_candidate_every_round_and_reports_ratios_to_the_first():
    done = run("--time", "data.train_size=1000 training.epochs=1", "data.train_size=1000 training.epochs=1 gd.batch_size=256",
               "--rounds", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    rounds = [line for line in done.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) == 4 and rounds[0].startswith("round 1  data.train_size=1000 training.epochs=1: ")
    assert "1.000x the first" in rounds[0]
    medians = [line for line in done.stdout.splitlines() if line.startswith("median ")]
    assert len(medians) == 2 and "1.000x the first (1.000-1.000)" in medians[0]
    assert medians[1].endswith("gd.batch_size=256")


def test_without_a_task_it_says_what_it_needs():
    done = run()
    assert done.returncode == 2 and "--grid, --report or --time is required" in done.stderr

"""The benchmark scripts refuse bad counts at once, in argparse's one error line
(``benchmarks/arguments.py``), instead of a traceback minutes into a run."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from benchmark_modules import BENCHMARKS, load

arguments = load("arguments")
at_least, integers = arguments.at_least, arguments.integers


def test_counts_are_integers_at_or_above_the_bound():
    assert at_least(1)("3") == 3 and at_least(0)("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer >= 1, got 0"):
        at_least(1)("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer >= 1, got 'two'"):
        at_least(1)("two")


def test_lists_are_comma_separated_counts_with_a_minimum_length():
    assert integers(1, 2)("1, 4,16") == [1, 4, 16]
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected 2 or more comma-separated integers >= 1, got '4'"):
        integers(1, 2)("4")
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer >= 32, got 8"):
        integers(32)("64,8")


@pytest.mark.parametrize("script, args, says", [
    ("train_mlp.py", ["--runs", "0"], "argument --runs: expected an integer >= 1, got 0"),
    ("elementwise_threads.py", ["--sizes", "1000,x"], "argument --sizes: expected an integer >= 32, got 'x'"),
    ("modes.py", ["--sizes", "4"], "argument --sizes: expected 2 or more comma-separated integers >= 1, got '4'"),
])
def test_a_script_given_a_bad_count_exits_2_with_one_error_line(script, args, says):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert errors == [f"{script}: error: {says}"], done.stderr
    assert "Traceback" not in done.stderr

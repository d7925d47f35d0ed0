"""``training.threads``: the BLAS thread count of a run, set and restored."""

from __future__ import annotations

import pytest

from harness import ConfigError, hookimpl
from harness.testing import train
from harness.threads import blas_threads, describe_blas, limited

TINY = ["data=blobs", "training.epochs=1", "model.layers.0.units=8", "model.layers.2.units=8", "model.layers.4.units=3"]


class ThreadsSeen:
    def __init__(self):
        self.seen: list[int | None] = []

    @hookimpl
    def harness_epoch_end(self):
        self.seen.append(blas_threads())


def test_a_run_uses_the_threads_it_asks_for_and_gives_them_back():
    before = blas_threads()
    assert before is not None, describe_blas()
    recorder = ThreadsSeen()
    outcome = train([*TINY, "training.threads=1"], plugins=[recorder])
    assert recorder.seen == [1]
    assert outcome.summary["blas_threads"] == 1
    assert blas_threads() == before


def test_by_default_the_library_keeps_its_own_count_and_the_run_records_it():
    with limited(1):  # as if OPENBLAS_NUM_THREADS=1 had been set
        recorder = ThreadsSeen()
        outcome = train(TINY, plugins=[recorder])
    assert recorder.seen == [1] and outcome.summary["blas_threads"] == 1


def test_describe_names_the_library_and_its_threads():
    with limited(1):
        assert "1 threads" in describe_blas()


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_a_bad_thread_count_is_one_line(value):
    with pytest.raises(ConfigError, match="training.threads"):
        train([*TINY, f"training.threads={value}"])

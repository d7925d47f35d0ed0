"""``training.threads``: the BLAS thread count of a run, set and restored."""

from __future__ import annotations

import pytest

from harness import ConfigError, hookimpl, threads
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


# ------------------------------------------------- jobs of a parallel sweep


@pytest.mark.parametrize("n_jobs, workers", [(None, 1), (1, 1), (2, 2), (3, 3), (-1, 16), (-2, 15)])
def test_joblib_n_jobs_means_what_joblib_says(monkeypatch, n_jobs, workers):
    monkeypatch.setattr(threads, "cores", lambda: 16)
    assert threads.workers_of(n_jobs) == workers


@pytest.mark.parametrize("cores, workers, share", [(2, 2, 1), (2, 3, 1), (16, 2, 8), (16, 16, 1), (16, 5, 3), (2, 1, 2)])
def test_a_parallel_job_takes_its_share_of_the_cores(monkeypatch, cores, workers, share):
    monkeypatch.setattr(threads, "cores", lambda: cores)
    assert threads.share(workers) == share and workers * share <= max(cores, workers)


def test_the_configured_count_wins_and_a_job_of_one_worker_keeps_the_library_default(monkeypatch, tmp_path):
    from harness import SweepJob

    monkeypatch.setattr(threads, "cores", lambda: 16)
    parallel = SweepJob(dir=tmp_path, job=0, overrides=(), workers=4)
    assert threads.threads_for(None, parallel) == 4
    assert threads.threads_for(2, parallel) == 2
    assert threads.threads_for(None, SweepJob(dir=tmp_path, job=0, overrides=())) is None
    assert threads.threads_for(None, None) is None


def test_the_launcher_says_how_many_jobs_share_this_machine(monkeypatch):
    from harness.cli.train import launcher_workers

    monkeypatch.setattr(threads, "cores", lambda: 8)
    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert launcher_workers({"_target_": joblib, "n_jobs": 2}) == 2
    assert launcher_workers({"_target_": joblib, "n_jobs": -1}) == 8
    assert launcher_workers({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}) == 1
    assert launcher_workers({"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"}) == 1

"""How many threads the BLAS library under NumPy uses for a run (``training.threads``).

A run's matrix products go to the BLAS library NumPy was built with (OpenBLAS in
NumPy's wheels), which by default starts one thread per core. That is fastest on an
idle machine; on a busy one (other runs, a sweep's parallel jobs) two libraries' worth
of spinning threads fight over the same cores, and one thread can be several times
faster. The thread count also changes results in the last bits (OpenBLAS splits a
product differently over two threads), so it is part of what a seed reproduces.

``training.threads: null`` (the default) leaves the library as it started: one thread
per core unless ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` say otherwise; except in a
job of a parallel sweep (``hydra/launcher=joblib``), which takes its share of the cores,
``cores // workers`` threads (at least one), so that workers × threads never exceeds the
cores: two jobs each running two BLAS threads on two cores train slower together than
one after the other. An integer limits it for the run (sweep job or not), through
threadpoolctl, and restores it afterwards. Elementwise NumPy work (activations, the
optimizer update) runs on one core whatever this says.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

# Finding the BLAS libraries walks every shared library the process has loaded: ~10 ms
# once MLflow is imported, three times per run. The libraries change only when something
# new is imported, so one scan serves until ``sys.modules`` grows (a sweep's later jobs).
_scanned: tuple[int, ThreadpoolController] | None = None


def _controller() -> ThreadpoolController:
    global _scanned
    if _scanned is None or _scanned[0] != len(sys.modules):
        _scanned = (len(sys.modules), ThreadpoolController())
    return _scanned[1]


def _blas_info() -> list[dict]:
    return [info for info in _controller().info() if info.get("user_api") == "blas"]


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and
    ``taskset`` restrict; the machine's count where affinity is unknown)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers_of(n_jobs: int | None) -> int:
    """How many processes a joblib launcher with ``n_jobs`` runs at once on this machine
    (joblib's meaning: ``-1`` all cores, ``-2`` all but one, ``None`` one)."""
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, cores() + 1 + n_jobs)
    return n_jobs


def share(workers: int) -> int:
    """BLAS threads for one of ``workers`` parallel jobs: ``cores // workers``, at least one."""
    return max(1, cores() // max(1, workers))


def threads_for(configured: int | None, sweep=None) -> int | None:
    """The BLAS thread count a run asks for: ``training.threads`` when set; for a job
    of a sweep run by several workers at once, its share of the cores; else ``None``
    (the library as it is)."""
    if configured is not None:
        return configured
    workers = getattr(sweep, "workers", 1) if sweep is not None else 1
    return share(workers) if workers > 1 else None


def blas_threads() -> int | None:
    """The largest thread count among the loaded BLAS libraries (``None`` if none is loaded)."""
    counts = [info["num_threads"] for info in _blas_info()]
    return max(counts) if counts else None


def describe_blas() -> str:
    """``"openblas 0.3.31 (Haswell), 2 threads"`` for each loaded BLAS library."""
    parts = [
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture') or '?'}), {info['num_threads']} threads"
        for info in _blas_info()
    ]
    return "; ".join(parts) or "no BLAS library loaded"


@contextmanager
def limited(threads: int | None) -> Iterator[int | None]:
    """BLAS limited to ``threads`` inside the block (``None``: as it is); yields the count in force."""
    if threads is None:
        yield blas_threads()
        return
    with _controller().limit(limits=threads, user_api="blas"):
        yield blas_threads()

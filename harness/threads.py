"""How many threads the BLAS library under NumPy uses for a run (``training.threads``).

A run's matrix products go to the BLAS library NumPy was built with (OpenBLAS in
NumPy's wheels), which by default starts one thread per core. That is fastest on an
idle machine; on a busy one (other runs, a sweep's parallel jobs) two libraries' worth
of spinning threads fight over the same cores, and one thread can be several times
faster. The thread count also changes results in the last bits (OpenBLAS splits a
product differently over two threads), so it is part of what a seed reproduces.

``training.threads: null`` (the default) leaves the library as it started: one thread
per core unless ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` say otherwise. An integer
limits it for the run, through threadpoolctl, and restores it afterwards. Elementwise
NumPy work (activations, the optimizer update) runs on one core whatever this says.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_info, threadpool_limits


def blas_threads() -> int | None:
    """The largest thread count among the loaded BLAS libraries (``None`` if none is loaded)."""
    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(counts) if counts else None


def describe_blas() -> str:
    """``"openblas 0.3.31 (Haswell), 2 threads"`` for each loaded BLAS library."""
    parts = [
        f"{info.get('internal_api')} {info.get('version')} ({info.get('architecture') or '?'}), {info['num_threads']} threads"
        for info in threadpool_info() if info.get("user_api") == "blas"
    ]
    return "; ".join(parts) or "no BLAS library loaded"


@contextmanager
def limited(threads: int | None) -> Iterator[int | None]:
    """BLAS limited to ``threads`` inside the block (``None``: as it is); yields the count in force."""
    if threads is None:
        yield blas_threads()
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield blas_threads()

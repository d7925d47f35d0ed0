"""Shared fixtures: compose configs the way ``harness-train`` does, on tiny data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from threadpoolctl import threadpool_limits

from harness.plugins import load_plugins, reset_plugin_manager
from harness.resources import config_dir
from harness.threads import share

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker takes its share of the cores for BLAS, as a parallel sweep's job
    does: two workers each spinning two OpenBLAS threads on two cores ran the suite's
    longest test three times slower than alone. The environment variables carry the
    share to the commands the tests start; threadpoolctl sets it in this process,
    whose NumPy is already loaded. One worker (``WORKERS=1``) keeps the library default."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = share(workers)
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(name, str(threads))
        threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")


# A run that trains in well under a second: the blobs set, a small MLP.
TINY = [
    "data=blobs",
    "tracking=none",
    "progress=never",
    "training.epochs=3",
    "model.layers.0.units=16",
    "model.layers.2.units=8",
    "model.layers.4.units=3",
]


@pytest.fixture
def compose_config(tmp_path):
    """``compose_config(overrides)`` -> the composed DictConfig, paths pointed at tmp_path."""

    def _compose(overrides=(), config_name="config"):
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="test"):
            return compose(
                config_name,
                overrides=[f"paths.project_dir={tmp_path}", f"paths.output_dir={tmp_path / 'out'}", *overrides],
            )

    return _compose


@pytest.fixture
def plugins():
    """The plugin manager with every installed plugin, ignoring HARNESS_LOAD_PLUGINS."""
    return load_plugins(use_env=False)


def read_records(run_folder: Path) -> list[dict]:
    """The diagnostics records a run left in its folder."""
    return json.loads((Path(run_folder) / "diagnostics" / "records.json").read_text())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first, so two workers finish together: ``slow`` tests before the rest, and
    among them those marked ``slow(minutes=N)`` by N. ``make test`` runs xdist's
    ``worksteal`` scheduler, whose idle worker takes the tail of the busy one's queue, so
    a long test started last can no longer leave one worker running alone for minutes."""

    def minutes(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return 0.0 if marker is None else float(marker.kwargs.get("minutes", 0.5))

    items.sort(key=minutes, reverse=True)  # stable: the collection order within a weight


@pytest.fixture(autouse=True)
def fresh_plugin_manager():
    """Every test starts from the installed plugins, whatever an earlier test loaded."""
    reset_plugin_manager()
    yield
    reset_plugin_manager()

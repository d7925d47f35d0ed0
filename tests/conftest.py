"""Shared fixtures: compose configs the way ``harness-train`` does, on tiny data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from harness.plugins import load_plugins, reset_plugin_manager
from harness.resources import config_dir

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

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


@pytest.fixture(autouse=True)
def fresh_plugin_manager():
    """Every test starts from the installed plugins, whatever an earlier test loaded."""
    reset_plugin_manager()
    yield
    reset_plugin_manager()

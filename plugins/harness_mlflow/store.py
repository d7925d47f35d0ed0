"""Where runs are stored: one SQLite file per project directory, by absolute path.

Hydra gives every job its own working folder; a relative store URI would scatter one
database per job. The default store is ``<project>/mlflow.db`` with artifacts under
``<project>/mlartifacts``, both absolute, so every job of every sweep launched from the
same directory lands in the same place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"


@dataclass(frozen=True)
class Store:
    uri: str
    artifact_root: str
    experiment: str

    def ui_command(self) -> str:
        return f"mlflow ui --backend-store-uri {self.uri}"


def resolve_store(tracking: dict, project_dir: Path, default_experiment: str) -> Store:
    """The store a run writes to, from the ``tracking`` config section."""
    uri = tracking.get("uri") or f"sqlite:///{(project_dir / STORE_FILE).resolve()}"
    if not isinstance(uri, str) or "://" not in uri:
        raise ConfigError(f"tracking.uri must be an MLflow tracking URI such as sqlite:///abs/path.db or http://host:5000, got {uri!r}")
    artifact_root = tracking.get("artifact_root") or (project_dir / ARTIFACT_DIR).resolve().as_uri()
    experiment = tracking.get("experiment") or default_experiment
    return Store(uri, str(artifact_root), str(experiment))


def quiet_mlflow() -> None:
    """No telemetry thread phoning out from an offline machine."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def experiment_id(client, store: Store) -> str:
    """Get or create the experiment; a concurrent creator winning the race is fine."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(store.experiment)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(store.experiment, artifact_location=store.artifact_root)
    except MlflowException:
        found = client.get_experiment_by_name(store.experiment)
        if found is None:
            raise
        return found.experiment_id

"""Where runs are stored: one SQLite file per project directory, by absolute path.

Hydra gives every job its own working folder; a relative store URI would scatter one
database per job. The default store is ``<project>/mlflow.db`` with artifacts under
``<project>/mlartifacts``, both absolute, so every job of every sweep launched from the
same directory lands in the same place. ``tracking.uri`` selects a tracking server
(``http://host:5000``) or another database instead.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from harness import ConfigError

log = logging.getLogger("harness.mlflow")
STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
RETRIES = 4


@dataclass(frozen=True)
class Store:
    uri: str
    artifact_root: str | None
    experiment: str

    def ui_command(self) -> str:
        if self.uri.startswith(("http://", "https://")):
            return f"open {self.uri} in a browser"
        return f"mlflow ui --backend-store-uri {self.uri}"


def resolve_store(tracking: dict, project_dir: Path, default_experiment: str) -> Store:
    """The store a run writes to, from the ``tracking`` config section."""
    uri = tracking.get("uri") or f"sqlite:///{(Path(project_dir) / STORE_FILE).resolve()}"
    if not isinstance(uri, str) or "://" not in uri:
        raise ConfigError(f"tracking.uri must be an MLflow tracking URI such as sqlite:///abs/path.db or http://host:5000, got {uri!r}")
    remote = uri.startswith(("http://", "https://"))
    artifact_root = tracking.get("artifact_root") or (None if remote else (Path(project_dir) / ARTIFACT_DIR).resolve().as_uri())
    experiment = tracking.get("experiment") or default_experiment
    return Store(uri, artifact_root, str(experiment))


def quiet_mlflow() -> None:
    """No telemetry thread phoning out from an offline machine, no progress bars in logs.

    MLflow's own HTTP retries and timeouts are left as they are: a busy server must get
    the time it needs. A server that is not there at all is caught before any data is
    loaded, by :func:`check_reachable` (the ``harness_validate_config`` hook)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def check_reachable(store: Store, timeout: float = 5.0) -> None:
    """A tracking server that does not answer is a one-line error before any data loads."""
    if not store.uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(store.uri.rstrip("/") + "/health", timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"tracking.uri: no MLflow tracking server answers at {store.uri} ({reason})") from None


def client_for(store: Store):
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store.uri)


def retrying(call, *args, **kwargs):
    """Call an MLflow client method, retrying transient failures with jittered backoff.

    SQLite under concurrent writers and a busy tracking server both fail now and then
    in ways a second attempt fixes; a sweep must not lose a metric to that.
    """
    from mlflow.exceptions import MlflowException

    for attempt in range(RETRIES):
        try:
            return call(*args, **kwargs)
        except MlflowException as exc:
            if attempt == RETRIES - 1 or not _transient(exc):
                raise
            delay = min(5.0, 0.1 * 2 ** attempt) * (0.5 + random.random())
            log.warning("MLflow call %s failed (%s); retrying in %.1f s", getattr(call, "__name__", call), str(exc).splitlines()[0][:200], delay)
            time.sleep(delay)


def _transient(exc) -> bool:
    text = str(exc).lower()
    code = getattr(exc, "error_code", "")
    permanent = ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_STATE")
    if code in permanent and "locked" not in text:
        return False
    return True


def experiment_id(client, store: Store) -> str:
    """Get or create the experiment; a concurrent creator winning the race is fine."""
    from mlflow.exceptions import MlflowException

    found = retrying(client.get_experiment_by_name, store.experiment)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(store.experiment, artifact_location=store.artifact_root)
    except MlflowException:
        found = client.get_experiment_by_name(store.experiment)
        if found is None:
            raise
        return found.experiment_id

"""Where runs are stored, resolved the way MLflow resolves it.

The tracking URI: an explicit ``tracking.uri`` (or a command's ``--uri``) wins, then
``MLFLOW_TRACKING_URI``, then the project's own SQLite file ``<project>/mlflow.db``. The
experiment: ``tracking.experiment`` (or ``--experiment``), then ``MLFLOW_EXPERIMENT_NAME``,
then the config's ``name``. Runs, ``harness compare``, ``harness runs repair`` and
``harness diagnostics summary`` all go through :func:`resolve_uri`, so they agree.

Hydra gives every job its own working folder; a relative store path would scatter one
database per job, so SQLite paths are made absolute, and a SQLite store keeps its
artifacts beside it in ``mlartifacts/``: every job of every sweep lands in one place.
"""

from __future__ import annotations

import logging
import os
import random
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness import ConfigError, HarnessError

log = logging.getLogger("harness.mlflow")
STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
RETRIES = 4
URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
SQLITE = "sqlite:///"


@dataclass(frozen=True)
class Store:
    uri: str
    artifact_root: str | None
    experiment: str

    def ui_command(self) -> str:
        """What to type to see the runs (quoted: a project folder may have spaces)."""
        if is_remote(self.uri):
            return f"open {self.uri} in a browser"
        return f"mlflow ui --backend-store-uri {shlex.quote(self.uri)}"


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for other stores)."""
    if not uri.startswith(SQLITE):
        return None
    return Path(uri[len(SQLITE):].split("?", 1)[0])


def resolve_uri(explicit: str | None, project_dir: Path, environ: Mapping[str, str] = os.environ) -> str:
    """MLflow's order: ``explicit``, then ``MLFLOW_TRACKING_URI``, then ``<project>/mlflow.db``.

    A relative SQLite path or a plain folder (MLflow's file store) is made absolute
    against the current directory, as MLflow itself reads it, so jobs running elsewhere
    find the same store."""
    source = "tracking.uri" if explicit else URI_ENV
    uri = explicit or environ.get(URI_ENV) or f"{SQLITE}{(Path(project_dir) / STORE_FILE).resolve()}"
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError(f"{source} must be an MLflow tracking URI such as sqlite:///abs/path.db or http://host:5000, got {uri!r}")
    if uri.startswith(SQLITE):
        file, mark, query = uri[len(SQLITE):].partition("?")
        if file in ("", ":memory:"):
            raise ConfigError(f"{source}: an in-memory SQLite store keeps no run; give a file, got {uri!r}")
        return f"{SQLITE}{Path(file).expanduser().resolve()}{mark}{query}"
    if "://" not in uri:  # a folder: MLflow's file store
        return Path(uri).expanduser().resolve().as_uri()
    return uri


def resolve_experiment(explicit: str | None, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """``explicit``, then ``MLFLOW_EXPERIMENT_NAME``, then ``default``."""
    return str(explicit or environ.get(EXPERIMENT_ENV) or default)


def resolve_store(tracking: Mapping, project_dir: Path, default_experiment: str,
                  environ: Mapping[str, str] = os.environ) -> Store:
    """The store a run writes to, from the ``tracking`` config section."""
    uri = resolve_uri(tracking.get("uri"), project_dir, environ)
    artifact_root = tracking.get("artifact_root") or default_artifact_root(uri, project_dir)
    return Store(uri, artifact_root, resolve_experiment(tracking.get("experiment"), default_experiment, environ))


def default_artifact_root(uri: str, project_dir: Path) -> str | None:
    """Beside a SQLite file; the project's ``mlartifacts/`` for another database; the
    server's or the file store's own choice otherwise."""
    path = sqlite_path(uri)
    if path is not None:
        return (path.parent / ARTIFACT_DIR).resolve().as_uri()
    if is_remote(uri) or uri.startswith("file:"):
        return None
    return (Path(project_dir) / ARTIFACT_DIR).resolve().as_uri()


def reading_uri(explicit: str | None, project_dir: Path | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The store a command reads (``compare``, ``runs repair``, ``diagnostics summary``):
    resolved as for a run; a SQLite file that does not exist is an error, not a new store."""
    try:
        uri = resolve_uri(explicit, project_dir or Path.cwd(), environ)
    except ConfigError as exc:
        raise HarnessError(str(exc).replace("tracking.uri", "--uri")) from None
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        raise HarnessError(f"no MLflow store at {uri}; run from the project directory, set {URI_ENV} or pass --uri")
    return uri


def store_failure(exc: BaseException) -> str:
    """One line for an error met while writing to the store or its artifacts."""
    from harness import describe_os_error
    from harness_mlflow.sqlite_store import first_reason

    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return first_reason(exc)


def quiet_mlflow() -> None:
    """No telemetry thread phoning out from an offline machine, no progress bars in logs,
    no SQLAlchemy tracebacks from MLflow's database layer.

    MLflow's own HTTP retries and timeouts are left as they are: a busy server must get
    the time it needs. A server that is not there at all is caught before any data is
    loaded, by :func:`check_reachable` (the ``harness_validate_config`` hook). A database
    error is reported by the call that met it, in one line (:func:`retrying`, then a
    :class:`harness.TrackingError`); MLflow logs each one first with its statement, its
    parameters and a traceback, eight of them for one read-only store."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    db_log = logging.getLogger(MLFLOW_DB_LOGGER)
    if not any(isinstance(f, _DatabaseErrorFilter) for f in db_log.filters):
        db_log.addFilter(_DatabaseErrorFilter())


MLFLOW_DB_LOGGER = "mlflow.store.db.utils"


class _DatabaseErrorFilter(logging.Filter):
    """Drops MLflow's "SQLAlchemy database error" records: the caller reports the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and str(record.msg).startswith("SQLAlchemy database error"))


def check_reachable(store: Store, timeout: float = 5.0) -> None:
    """A tracking server that does not answer is a one-line error before any data loads."""
    if not is_remote(store.uri):
        return
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(store.uri.rstrip("/") + "/health", timeout=timeout)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"tracking.uri: no MLflow tracking server answers at {store.uri} ({reason})") from None


def client_for(store: Store, *, write: bool = True):
    """An ``MlflowClient`` of ``store``, which is ready: a SQLite store is created and
    migrated once, safely under concurrent starters, and refused in one line when it is
    not a store or (``write``) cannot be written (:mod:`harness_mlflow.sqlite_store`)."""
    quiet_mlflow()
    prepare_store(store.uri, write=write)
    from mlflow.tracking import MlflowClient

    from harness_mlflow.artifacts import install_atomic_local_repository

    install_atomic_local_repository()
    return MlflowClient(tracking_uri=store.uri)


def prepare_store(uri: str, *, write: bool = True) -> None:
    """Check (and create, if needed) a SQLite store; other stores are the server's business."""
    from harness_mlflow.sqlite_store import prepare

    path = sqlite_path(uri)
    if path is not None:
        quiet_mlflow()
        prepare(uri, path, write=write)


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
            log.warning("MLflow call %s failed (%s); retrying in %.1f s", getattr(call, "__name__", call), store_failure(exc)[:200], delay)
            time.sleep(delay)


# A store that cannot be written stays so for the next few seconds: retrying only repeats it.
PERMANENT_DB_ERRORS = ("readonly database", "disk is full", "no space left", "not a database", "disk image is malformed")


def _transient(exc) -> bool:
    text = str(exc).lower()
    code = getattr(exc, "error_code", "")
    permanent = ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_STATE")
    if code in permanent and "locked" not in text:
        return False
    return not any(marker in text for marker in PERMANENT_DB_ERRORS)


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

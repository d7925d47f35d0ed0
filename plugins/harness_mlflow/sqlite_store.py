"""The project's SQLite store file: checked before anything loads, created once.

MLflow creates and migrates a SQLite store the first time a process opens it, with no
lock: two runs started at once into a folder without ``mlflow.db`` race the same alembic
migrations and all but one die (``table _alembic_tmp_experiments already exists``).
:func:`prepare` makes creation safe for any number of concurrent starters (runs, sweeps,
``harness compare``, ``harness runs repair``): the first one creates and migrates the
store while holding ``mlflow.db.lock`` (a :mod:`filelock` lock beside the store), the
others wait and find it ready. A store that exists and is at MLflow's schema head is
recognised by a read-only look at it (about a millisecond) and never pays the lock.

Creating a store costs MLflow 2–4 s (its tables, then every alembic migration since its
first schema); a new store is a copy of an empty one made once per MLflow version and
schema, kept in harness's cache folder (:func:`harness.files.cache_root`), with its
default experiment's artifact location and times set as MLflow would set them here
(about 10 ms). Any trouble with that copy falls back to MLflow's own creation.

The same look turns what MLflow would report as SQLAlchemy tracebacks into one line
naming the file: a file that is not an SQLite database (``echo x > mlflow.db``), one this
user cannot write (read-only file, folder or file system), a schema older than this
MLflow's (``mlflow db upgrade``).
"""

from __future__ import annotations

import functools
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from harness import TrackingError

from . import empty_store as template

LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT = 600.0  # seconds: creating a store takes seconds, even on a loaded machine
READY, EMPTY, OUTDATED = "ready", "empty", "outdated"

_ready: set[tuple[str, bool]] = set()  # (database file, checked for writing) already prepared here


def lock_path(path: Path) -> Path:
    """The lock file guarding the creation of store ``path``: beside it."""
    return path.with_name(path.name + LOCK_SUFFIX)


@functools.cache
def schema_head() -> str:
    """The schema revision this MLflow creates (its alembic head)."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def state(path: Path) -> str:
    """``ready`` (at the schema head, with MLflow's default experiment), ``empty`` (no
    file, or no MLflow tables yet: MLflow creates them) or ``outdated`` (MLflow tables
    at another revision: an older store, or one being migrated right now).

    Reads the file without creating it; one that cannot be a store is a
    :class:`harness.TrackingError` naming it."""
    if not path.exists():
        return EMPTY
    if path.is_dir():
        raise TrackingError(f"{path} is a folder, not an MLflow store (an SQLite file); use another tracking.uri")
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "experiments"} <= tables:
                return EMPTY
            versions = [row[0] for row in db.execute("SELECT version_num FROM alembic_version")]
            default = db.execute("SELECT 1 FROM experiments WHERE experiment_id = 0").fetchone()
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text:  # another process holds a write lock (creating the store, say)
            return OUTDATED
        if not os.access(path, os.R_OK):
            raise TrackingError(f"cannot read the MLflow store {path}: permission denied for this user") from None
        raise TrackingError(f"cannot read the MLflow store {path}: {text}") from None
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        raise TrackingError(
            f"{path} is not an MLflow store: not a readable SQLite database ({exc}); "
            f"move it away or use another tracking.uri"
        ) from None
    return READY if versions == [schema_head()] and default is not None else OUTDATED


def read_only_reason(path: Path) -> str | None:
    """Why this process cannot write store ``path`` (SQLite also writes a journal beside
    the file, so its folder must be writable too), or ``None``."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # MLflow creates missing folders
    if _read_only_fs(folder):
        return f"it is on a read-only file system ({folder})"
    if path.exists() and not os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        return "this user has no write permission on the file"
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        return f"this user has no write permission on its folder {folder} (SQLite writes a journal beside the file)"
    return None


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def prepare(uri: str, path: Path, *, write: bool = True) -> None:
    """Make the SQLite store ``path`` (``uri``) ready to use, creating and migrating it
    if needed under its lock file; with ``write``, refuse a store this user cannot write.

    Cheap once ready: one read-only query, and nothing at all the next time in this process.
    """
    key = (str(path), write)
    if key in _ready:
        return
    if write:
        reason = read_only_reason(path)
        if reason is not None:
            raise TrackingError(f"the MLflow store {path} is read-only: {reason}; nothing can be recorded there")
    if state(path) != READY:
        _create_locked(uri, path)
    _ready.add(key)


def _create_locked(uri: str, path: Path) -> None:
    from filelock import FileLock, Timeout

    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock), timeout=LOCK_TIMEOUT):
            found = state(path)  # another process may have created it while this one waited
            if found == READY:
                return
            _create(uri, path, found)
    except Timeout:
        raise TrackingError(
            f"waited {LOCK_TIMEOUT:.0f} s for {lock}: another process is still creating the MLflow store {path}"
        ) from None
    except OSError as exc:
        from harness import describe_os_error

        raise TrackingError(f"cannot create the MLflow store {path}: {describe_os_error(exc)}") from None


def _create(uri: str, path: Path, found: str) -> None:
    """Create the store from the empty template if there is no file yet, else let MLflow
    create (or check) it, with the lock held: its tracking store creates the tables, runs
    the migrations and adds the default experiment."""
    if _fresh(path) and template.copy_to(path) and state(path) == READY:
        return
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=uri)
    except MlflowException as exc:
        text = str(exc)
        if "out-of-date database schema" in text:
            raise TrackingError(
                f"the MLflow store {path} has an older schema than this MLflow (version {_mlflow_version()}) "
                f"uses: back it up, then run `mlflow db upgrade {uri}`"
            ) from None
        raise TrackingError(f"cannot create the MLflow store {path}: {first_reason(exc)}") from None
    except Exception as exc:  # SQLAlchemy's own errors (a disk full while migrating)
        raise TrackingError(f"cannot create the MLflow store {path} ({found}): {first_reason(exc)}") from None


def _fresh(path: Path) -> bool:
    """No store file yet (or an empty one, as ``touch mlflow.db`` leaves)."""
    return not path.exists() or path.stat().st_size == 0


def _mlflow_version() -> str:
    import mlflow

    return mlflow.__version__


def first_reason(exc: BaseException) -> str:
    """The database's own words for what went wrong, on one line (``database or disk is
    full``), without SQLAlchemy's statement, parameters and advice."""
    import re

    text = str(exc)
    found = re.search(r"\((?:sqlite3|psycopg[\w.]*|pymysql|MySQLdb)\.[\w.]+\) ([^\n\[]+)", text)
    if found:
        return found.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("(raised as a result")]
    return (lines[0] if lines else type(exc).__name__)[:300]

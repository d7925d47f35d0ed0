"""New SQLite stores copied from an empty one, instead of created by MLflow each time.

MLflow creates a store by creating its tables and then running every alembic migration
since its first schema: 2–4 s for each new project folder, each test, each docs example.
What it makes is always the same file but for one row: the default experiment (id 0),
whose artifact location MLflow derives from the creating process (its working folder, or
the artifact root a server sets in ``_MLFLOW_SERVER_ARTIFACT_ROOT``) and whose times are
the creation's. So MLflow makes one empty store per MLflow version and schema head, kept
in harness's cache folder, and a new store is that file with the row rewritten the way
MLflow would have written it here (``tests/test_empty_store.py`` compares the two).

:func:`copy_to` never fails: any trouble (a read-only cache folder, a damaged template)
returns ``False`` and the caller lets MLflow create the store itself.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from harness import atomic_write, cache_root

logger = logging.getLogger(__name__)

SUBFOLDER = "mlflow"
LOCK_TIMEOUT = 600.0  # seconds: making the template is one store creation


def template_path() -> Path:
    """The empty store for this MLflow version and schema head, in harness's cache."""
    import mlflow

    from .sqlite_store import schema_head

    return cache_root() / SUBFOLDER / f"empty-store-{mlflow.__version__}-{schema_head()}.db"


def copy_to(path: Path) -> bool:
    """Write a new store at ``path`` (which must not exist yet, or be empty) from the
    template, making the template first if needed; ``False``, with nothing written, if
    that cannot be done."""
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

    if MLFLOW_ENABLE_WORKSPACES.get():  # a workspace-aware store: left to MLflow
        return False
    try:
        image = _personalised(_template())
        atomic_write(path, image)
    except Exception as exc:  # MLflow's own creation is the fallback, whatever went wrong
        logger.debug("creating %s without the empty-store template: %s", path, exc)
        return False
    return True


def default_experiment_location() -> str:
    """The artifact location MLflow gives the default experiment of a store this process
    creates (``MlflowClient(tracking_uri=...)``, no artifact root given)."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.tracking._tracking_service.utils import _SERVER_ARTIFACT_ROOT_ENV_VAR
    from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local

    root = os.environ.get(_SERVER_ARTIFACT_ROOT_ENV_VAR, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)
    return str(append_to_uri_path(resolve_uri_if_local(root), "0"))


def _template() -> Path:
    """The template, made under a lock in the cache folder if missing or not usable."""
    from filelock import FileLock

    template = template_path()
    if _usable(template):
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(template) + ".lock", timeout=LOCK_TIMEOUT):
        if not _usable(template):  # another process may have made it while this one waited
            _make(template)
    return template


def _usable(template: Path) -> bool:
    from harness import TrackingError

    from .sqlite_store import READY, state

    try:
        return state(template) == READY
    except TrackingError:  # damaged: made again
        return False


def _make(template: Path) -> None:
    """Let MLflow create an empty store beside the template, then move it in place."""
    from mlflow.tracking import MlflowClient

    from .sqlite_store import READY, state

    scratch = template.with_name(f".{template.name}.{os.getpid()}.tmp")
    scratch.unlink(missing_ok=True)
    try:
        MlflowClient(tracking_uri=f"sqlite:///{scratch}")
        if state(scratch) != READY:
            raise RuntimeError(f"MLflow left {scratch} without its schema head or default experiment")
        os.replace(scratch, template)
    finally:
        scratch.unlink(missing_ok=True)


def _personalised(template: Path) -> bytes:
    """The template's bytes with the default experiment as MLflow would create it now."""
    now = int(time.time() * 1000)
    with closing(sqlite3.connect(f"{template.as_uri()}?mode=ro", uri=True)) as source, \
            closing(sqlite3.connect(":memory:")) as image:
        source.backup(image)
        image.execute(
            "UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
            "WHERE experiment_id = 0",
            (default_experiment_location(), now, now),
        )
        image.commit()
        return image.serialize()

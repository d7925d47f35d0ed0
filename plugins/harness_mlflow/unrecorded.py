"""A run's outcome kept beside it when the store could not be written at its end.

A full disk or a store that went read-only mid-run leaves the MLflow run RUNNING, with
its final metrics missing. The run's own folder then gets ``harness_unrecorded.json``:
the run id, the store, the status the run should have ended with, what failed, and the
final metrics. ``harness runs repair`` finds it through the run's ``harness.output_dir``
tag and ends the run with that status, adding the missing metrics.

The disk that refused the store is often the one holding the run folder, so room for the
record is taken while there is some: at run start a placeholder of :data:`RESERVE` bytes
(``.harness_unrecorded.json``) is written; at the end it is overwritten in place (no new
block needed) and renamed, or deleted when the run was recorded.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

log = logging.getLogger("harness.mlflow")
FILE = "harness_unrecorded.json"
PLACEHOLDER = ".harness_unrecorded.json"
RESERVE = 4096


def reserve(output_dir: Path, run_id: str) -> None:
    """Take room for the record, in the run folder, at run start (best effort)."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        _write_in_place(output_dir / PLACEHOLDER, {"run_id": run_id, "status": "RUNNING"}, create=True)
    except OSError as exc:
        log.debug("no room reserved for an unrecorded-run record in %s: %s", output_dir, exc)


def release(output_dir: Path) -> None:
    """The run was recorded: its reserved room is not needed."""
    (output_dir / PLACEHOLDER).unlink(missing_ok=True)


def write(output_dir: Path, record: dict) -> Path:
    """Keep ``record`` as ``<output_dir>/harness_unrecorded.json``; raises ``OSError``."""
    record = {**record, "host": socket.gethostname(), "pid": os.getpid(),
              "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    target = output_dir / FILE
    placeholder = output_dir / PLACEHOLDER
    if placeholder.exists():
        try:
            _write_in_place(placeholder, record, create=False)
            os.replace(placeholder, target)
            return target
        except OSError as exc:
            log.debug("could not use the reserved room in %s: %s", placeholder, exc)
    from harness import atomic_write

    atomic_write(target, json.dumps(record, indent=1))
    return target


def read(output_dir: str | Path | None, run_id: str) -> tuple[Path, dict] | None:
    """The record of run ``run_id`` in its folder, if there is one."""
    if not output_dir:
        return None
    path = Path(output_dir) / FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("run_id") != run_id:
        return None
    return path, record


def _write_in_place(path: Path, record: dict, *, create: bool) -> None:
    """Write ``record`` padded to :data:`RESERVE` bytes into ``path``, overwriting the
    bytes already there (so a file of that size needs no new block)."""
    data = _padded(record)
    flags = os.O_WRONLY | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _padded(record: dict) -> bytes:
    """The record as JSON, spaces after it up to :data:`RESERVE` bytes (long texts cut)."""
    data = json.dumps(record, indent=1).encode()
    if len(data) > RESERVE:
        record = {k: (v[:300] + "…" if isinstance(v, str) and len(v) > 300 else v) for k, v in record.items()}
        data = json.dumps(record).encode()
    if len(data) > RESERVE:
        data = json.dumps({k: v for k, v in record.items() if k in ("run_id", "store", "status", "failed")}).encode()
    return data + b" " * max(0, RESERVE - len(data))

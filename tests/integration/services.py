"""Services the integration tests start and always stop: a private PostgreSQL cluster
and an ``mlflow server``, both on the loopback interface."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from servers import BIN as BIN
from servers import ENV as ENV
from servers import free_port as free_port
from servers import serving as serving


def postgres_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), or an error saying what to install."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does it)")
    return Path(found[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root (CI), run it as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_cluster(database: str = "mlflow"):
    """A fresh cluster in a temporary directory on a loopback port; yields its SQLAlchemy
    URL (``postgresql+psycopg://...``), removed afterwards whatever happened."""
    pg = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", free_port()
    log = root / "server.log"
    started = False
    try:
        subprocess.run(_as_postgres([str(pg / "initdb"), "-D", str(data), "-U", "harness", "--auth=trust",
                                     "-E", "UTF8", "--no-sync"]), check=True, capture_output=True, timeout=300)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w",
                                     "-t", "120", "start"]), check=True, capture_output=True, timeout=180)
        started = True
        subprocess.run(_as_postgres([str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "harness", database]),
                       check=True, capture_output=True, timeout=60)
        yield f"postgresql+psycopg://harness@127.0.0.1:{port}/{database}"
    finally:
        if started:
            subprocess.run(_as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def mlflow_server(backend_uri: str, workdir: Path):
    """``mlflow server`` on ``backend_uri`` with proxied artifacts under ``workdir``."""
    from mlflow.tracking import MlflowClient

    # Create and migrate the schema once, before the server's workers race to do it.
    MlflowClient(tracking_uri=backend_uri).search_experiments()
    port = free_port()
    args = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", backend_uri, "--serve-artifacts",
            "--artifacts-destination", str(workdir / "server-artifacts"), "--workers", "2"]
    with serving(args, port, workdir) as url:
        yield url

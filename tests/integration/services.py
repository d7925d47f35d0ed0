"""Services the integration tests start and always stop: a private PostgreSQL cluster
and an ``mlflow server``, both on the loopback interface."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
# No MLflow job runners (huey consumers) beside a test server: nothing here submits jobs.
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def serving(args: list[str], port: int, cwd: Path, ready_path: str = "/health"):
    """A server process in its own process group (its workers stop with it), output to a file."""
    log_path = cwd / f"server-{port}.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(args, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, env=ENV,
                                   start_new_session=True)
        try:
            deadline = time.time() + 180
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2)
                    break
                except OSError:
                    if process.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}") from None
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}"
        finally:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=30)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


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

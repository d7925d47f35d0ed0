"""Server processes the tests start on 127.0.0.1 and always stop (an ``mlflow server``,
``mlflow ui``, ``mlflow models serve``), shared by the suite and ``tests/integration``.

Output goes to a file, never a pipe nobody reads (a server logs every request, and a full
pipe would block it mid-request); each server runs in its own process group so that its
workers stop with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
# No MLflow job runners (huey consumers) beside a test server: nothing here submits jobs.
# One uvicorn worker unless a test asks for more (``--workers`` wins over MLflow's
# ``MLFLOW_WORKERS``): MLflow's default of four answered after 16 s on two cores, one
# after 9.5 s, and a test reading a few pages needs no more.
ENV = {"MLFLOW_WORKERS": "1", **os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
       "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(args: list[str], port: int, cwd: Path, ready_path: str = "/health", env: dict | None = None,
            timeout: float = 180) -> Iterator[str]:
    """Start ``args``, wait until ``ready_path`` answers (its log in the error if it never
    does), yield its base URL, then stop its process group."""
    log_path = cwd / f"server-{port}.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(args, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, env=env or ENV,
                                   start_new_session=True)
        try:
            deadline = time.time() + timeout
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

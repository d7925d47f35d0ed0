"""Helpers for tests against real services: train into a fresh store, start a server
process on 127.0.0.1, wait for it, stop its whole process group.

Server output goes to a file, never a pipe (a full pipe blocks the server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
HARNESS_TRAIN = str(BIN / "harness-train")
QUICK = ["data=blobs", "model.layers.4.units=3", "training.epochs=3", "progress=never"]


def env_for(store: Path, **extra: str) -> dict[str, str]:
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # mlflow and uv from this environment
    return {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


def train(project: Path, *overrides: str, multirun: bool = False, timeout: int = 900) -> None:
    project.mkdir(parents=True, exist_ok=True)
    where = f"hydra.sweep.dir={project / 'multirun'}" if multirun else f"hydra.run.dir={project / 'outputs'}"
    command = [HARNESS_TRAIN, *(["-m"] if multirun else []), *QUICK, *overrides, where]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    assert done.returncode == 0, done.stderr[-3000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    handle = open(log, "w")  # noqa: SIM115 (the server outlives this call; its log stays open with it)
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env}  # no job runners: nothing here submits jobs
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200 (a bounded number of tries), or fail with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1.0)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

"""A logged model served in an isolated environment, as a deployment would serve it.

``mlflow models serve --env-manager uv`` builds a fresh virtual environment from the
model's own requirements: the pinned ``mlflow`` and ``numpy`` from the package index, and
this project's wheel from the model's ``code/`` folder (the distribution is installed
from a checkout here, so no index has it). The server must answer ``/invocations`` with
the classes the training process predicted. Needs uv (``make test-integration``
installs it) and the package index.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from mlflow_services import BIN, env_for, free_port, start, stop, train, wait_until_up

pytestmark = [pytest.mark.serving, pytest.mark.slow, pytest.mark.network]


def test_logged_model_serves_from_an_isolated_environment(tmp_path, monkeypatch):
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    assert uv, "uv is needed to build the isolated environment: .venv/bin/python -m pip install uv (make test-integration does)"
    project = tmp_path / "project"
    train(project, "name=served")
    store = project / "mlflow.db"
    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("served")
    (model,) = client.search_logged_models([experiment.experiment_id])

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    local = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    from harness_datasets import Blobs

    x = Blobs().load().test_x[:20].astype(np.float32)
    expected = np.asarray(local.predict(x)).tolist()

    port = free_port()
    log = tmp_path / "serve.log"
    # A fresh environment root: nothing reused from an earlier model with the same requirement lines.
    env = env_for(store, MLFLOW_ENV_ROOT=str(tmp_path / "envs"), UV_PYTHON_DOWNLOADS="never")
    server = start([str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{model.model_id}", "--env-manager", "uv",
                    "--host", "127.0.0.1", "-p", str(port)], log, env, cwd=tmp_path)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server, log, timeout=1200)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps({"inputs": x.tolist()}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            served = json.loads(answer.read())
    finally:
        stop(server)
    assert served == {"predictions": expected}
    installed = (tmp_path / "envs").rglob("harness_backprop-*.dist-info")
    assert any(installed), "the project was not installed from the bundled wheel"

"""Log a finished run's model as an ``mlflow.pyfunc`` model, built from code, not pickle."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from harness import predict_classes, save_model_files

log = logging.getLogger("harness.mlflow")
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
ARTIFACT_PATH = "model"


def log_pyfunc_model(tracked, run) -> None:
    """Save the model (spec + weights + code) and upload it under ``model/`` of the run."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    settings = run.config
    loss = settings.model.loss
    model = tracked.model
    with tempfile.TemporaryDirectory(prefix="harness-model-") as tmp:
        files = Path(tmp) / "files"
        spec, weights = save_model_files(
            files, model, engine=settings.engine["name"], layers=settings.model.layers, loss=loss,
            dtype=settings.dtype, input_dim=tracked.example.shape[1], num_classes=model.output_dim,
        )
        example = np.asarray(tracked.example, dtype=np.float32)
        signature = infer_signature(example, predict_classes(model, example, np.dtype(settings.dtype)))
        target = Path(tmp) / ARTIFACT_PATH
        mlflow.pyfunc.save_model(
            path=str(target), python_model=str(MODEL_CODE),
            artifacts={"spec": str(spec), "weights": str(weights)},
            signature=signature, input_example=example,
            pip_requirements=["harness", "mlflow", "numpy"],
        )
        tracked.log_artifacts(target, ARTIFACT_PATH)
        shutil.rmtree(files, ignore_errors=True)
    log.info("model logged: mlflow.pyfunc.load_model('runs:/%s/%s')", tracked.run_id, ARTIFACT_PATH)

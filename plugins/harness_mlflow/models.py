"""Log a finished run's model as an MLflow LoggedModel, built from code, not pickle.

MLflow stores ``pyfunc_model.py`` (which calls ``mlflow.models.set_model``), the
network's ``model_spec.json`` and its ``weights.npz``; loading runs only that file and
the installed plugins. The model is logged with ``mlflow.models.Model.log`` against the
run by id (no process-wide active run): MLflow links it to the run as an output, writes
``run_id`` and ``model_id`` into ``MLmodel``, and links the run's metrics of the model's
step, the final test metrics among them, to the model. The LoggedModel is created first
in the run's experiment (``Model.log`` alone would file it under MLflow's default or
active experiment). Its requirements are exact pins (:mod:`harness_mlflow.requirements`),
with the wheels the package index cannot provide inside the model, so
``mlflow models serve --env-manager uv`` rebuilds the environment anywhere.
``tracking.register_model=NAME`` also registers it as a new version of ``NAME``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness_mlflow.requirements import Pinned, model_distributions, pin, requirements
from harness_mlflow.store import retrying

log = logging.getLogger("harness.mlflow")
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
NAME = "model"
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class LoggedModelRecord:
    model_id: str
    uri: str
    requirements: list[str]
    registered_version: str | None = None


def log_model(tracked, *, model, settings, data, registry, plugin_infos: dict, step: int,
              params: dict[str, str], tags: dict[str, str], register_as: str | None = None,
              bundle: bool = True) -> LoggedModelRecord:
    """Save the model (spec + weights + code) and log it as a LoggedModel of the run."""
    import mlflow.pyfunc
    from mlflow.models import Model, infer_signature
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from harness import predict_classes, save_model_files

    layers, loss, engine = settings.model.layers, settings.model.loss, settings.engine["name"]
    pinned = pin(model_distributions(registry, plugin_infos, engine, layers, loss), bundle=bundle)
    with tempfile.TemporaryDirectory(prefix="harness-model-") as tmp:
        spec, weights = save_model_files(
            Path(tmp), model, engine=engine, layers=layers, loss=loss, dtype=settings.dtype,
            input_dim=data.test_x.shape[1], num_classes=model.output_dim,
        )
        example = np.asarray(data.test_x[:EXAMPLE_ROWS], dtype=np.float32)
        signature = infer_signature(example, predict_classes(model, example, np.dtype(settings.dtype)))
        created = retrying(tracked.client.create_logged_model, tracked.experiment_id, name=NAME,
                           source_run_id=tracked.run_id, params=params, tags=tags, model_type="classifier")
        with _use_tracking_uri(tracked.store.uri):
            info = Model.log(
                artifact_path=None, name=NAME, flavor=mlflow.pyfunc, run_id=tracked.run_id, model_id=created.model_id, step=step,
                registered_model_name=register_as,
                python_model=str(MODEL_CODE), artifacts={"spec": str(spec), "weights": str(weights)},
                signature=signature, input_example=example,
                pip_requirements=requirements(pinned), code_paths=wheel_paths(pinned) or None,
            )
    version = getattr(info, "registered_model_version", None)
    log.info("model logged: mlflow.pyfunc.load_model('models:/%s')%s", created.model_id,
             f", registered as {register_as} version {version}" if version else "")
    return LoggedModelRecord(created.model_id, f"models:/{created.model_id}", requirements(pinned),
                             str(version) if version else None)


def wheel_paths(pinned: list[Pinned]) -> list[str]:
    return [str(p.wheel) for p in pinned if p.wheel is not None]

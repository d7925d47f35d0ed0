"""Log a finished run's model as an MLflow LoggedModel, built from code, not pickle.

MLflow stores ``pyfunc_model.py`` (which calls ``mlflow.models.set_model``), the
network's ``model_spec.json`` and its ``weights.npz``; loading runs only that file and
the installed plugins. Its requirements are exact pins
(:mod:`harness_mlflow.requirements`), with the wheels the package index cannot provide
inside the model, so ``mlflow models serve --env-manager uv`` rebuilds the environment
anywhere. ``tracking.register_model=NAME`` also registers it as a new version of ``NAME``.

The steps are those of ``mlflow.models.Model.log``, taken with ``MlflowClient`` calls
against the run by id (no process-wide active run): the LoggedModel is created in the
run's experiment, recorded as the run's output at the model's step, saved with
``mlflow.pyfunc.save_model`` (``MLmodel`` names ``run_id`` and ``model_id``), uploaded,
and finalized ``READY`` (``FAILED`` if a step fails). Two things ``Model.log`` does are
left out, because they cost a sweep of tiny runs more than their training: loading the
saved model again to validate the input example against the signature (the signature is
computed here from the model's own predictions on that example, and the pyfunc code is
tested), and reading the history of every metric of the run to link those of the model's
step to it (the caller links them from what it logged, see
:meth:`harness_mlflow.tracked.TrackedRun.metrics_at`).
"""

from __future__ import annotations

import logging
import shutil
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
# Pinned distributions (and bundled wheels) by what was asked: found once per process.
# The code a process runs is the code it imported when it started, so the wheel found
# first is the one its models need; building or digesting it again per run cost ~0.1 s.
_pinned: dict[tuple[tuple[str, ...], bool], list[Pinned]] = {}


@dataclass(frozen=True)
class LoggedModelRecord:
    model_id: str
    uri: str
    requirements: list[str]
    registered_version: str | None = None


def pinned_for(names: list[str], bundle: bool) -> list[Pinned]:
    """:func:`harness_mlflow.requirements.pin`, once per process for the same names."""
    key = (tuple(names), bundle)
    found = _pinned.get(key)
    if found is None or any(p.wheel is not None and not p.wheel.exists() for p in found):
        found = _pinned[key] = pin(names, bundle=bundle)
    return found


def log_model(tracked, *, model, settings, data, registry, plugin_infos: dict, step: int,
              params: dict[str, str], tags: dict[str, str], register_as: str | None = None,
              bundle: bool = True) -> LoggedModelRecord:
    """Save the model (spec + weights + code) and log it as a READY LoggedModel of the run."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import infer_signature

    from harness import predict_classes, save_model_files

    layers, loss, engine = settings.model.layers, settings.model.loss, settings.engine["name"]
    pinned = pinned_for(model_distributions(registry, plugin_infos, engine, layers, loss), bundle)
    client = tracked.client
    with tempfile.TemporaryDirectory(prefix="harness-model-") as tmp:
        spec, weights = save_model_files(
            Path(tmp) / "files", model, engine=engine, layers=layers, loss=loss, dtype=settings.dtype,
            input_dim=data.test_x.shape[1], num_classes=model.output_dim, tta_shift=settings.model.tta_shift,
        )
        example = np.asarray(data.test_x[:EXAMPLE_ROWS], dtype=np.float32)
        signature = infer_signature(example, predict_classes(model, example, np.dtype(settings.dtype),
                                                               tta_shift=settings.model.tta_shift))
        created = retrying(client.create_logged_model, tracked.experiment_id, name=NAME,
                           source_run_id=tracked.run_id, params=params, tags=tags, model_type="classifier")
        try:
            retrying(client.log_outputs, tracked.run_id, [LoggedModelOutput(created.model_id, step=step)])
            folder = Path(tmp) / NAME
            save_pyfunc(folder, created, tracked.run_id, spec, weights, signature, example, pinned)
            retrying(client.log_model_artifacts, created.model_id, str(folder))
        except BaseException:
            _finalize_quietly(client, created.model_id, LoggedModelStatus.FAILED)
            raise
        retrying(client.finalize_logged_model, created.model_id, LoggedModelStatus.READY)
    version = register(tracked, created.model_id, register_as, tags) if register_as else None
    log.info("model logged: mlflow.pyfunc.load_model('models:/%s')%s", created.model_id,
             f", registered as {register_as} version {version}" if version else "")
    return LoggedModelRecord(created.model_id, f"models:/{created.model_id}", requirements(pinned), version)


def save_pyfunc(folder: Path, created, run_id: str, spec: Path, weights: Path, signature, example,
                pinned: list[Pinned]) -> None:
    """The model as MLflow saves it for ``Model.log``: ``MLmodel`` with the LoggedModel's
    ids, the code, the artifacts, requirements and the input example."""
    import mlflow.pyfunc
    from mlflow.models import Model

    described = Model(artifact_path=created.artifact_location, model_uuid=created.model_id, run_id=run_id,
                      model_id=created.model_id)
    mlflow.pyfunc.save_model(
        str(folder), python_model=str(MODEL_CODE), artifacts={"spec": str(spec), "weights": str(weights)},
        signature=signature, input_example=example, pip_requirements=requirements(pinned),
        code_paths=wheel_paths(pinned) or None, mlflow_model=described,
    )
    for cache in folder.rglob("__pycache__"):  # MLflow removes them too: not part of the model
        shutil.rmtree(cache, ignore_errors=True)


def register(tracked, model_id: str, name: str, tags: dict[str, str]) -> str:
    """A new version of the registered model ``name`` (created if needed) from the logged model."""
    import mlflow
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(tracked.store.uri):
        version = mlflow.register_model(f"models:/{model_id}", name, tags=tags)
    return str(version.version)


def _finalize_quietly(client, model_id: str, status) -> None:
    try:
        client.finalize_logged_model(model_id, status)
    except Exception:  # the error that got us here is the one to report
        log.warning("could not mark logged model %s %s", model_id, status)


def wheel_paths(pinned: list[Pinned]) -> list[str]:
    return [str(p.wheel) for p in pinned if p.wheel is not None]

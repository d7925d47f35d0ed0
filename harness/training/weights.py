"""A trained model as plain files: its config as JSON, its arrays as ``.npz``.

Enough to rebuild the network through the registry in another process and predict,
without pickle: the spec names the engine, layers, loss, dtype and input size; the
arrays hold every parameter and layer buffer (batch-norm statistics) by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.errors import DataError
from harness.files import atomic_write
from harness.training import views
from harness.training.arrays import model_arrays

SPEC = "model_spec.json"
WEIGHTS = "weights.npz"


def save_model_files(directory: Path, model, *, engine: str, layers: list, loss, dtype: str,
                     input_dim: int, num_classes: int, tta_shift: int = 0) -> tuple[Path, Path]:
    """Write ``model_spec.json`` and ``weights.npz`` into ``directory``; ``tta_shift``
    (``model.tta_shift``) is kept so that a loaded model predicts as the run scored it."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = {"engine": engine, "layers": layers, "loss": loss, "dtype": dtype,
            "input_dim": input_dim, "num_classes": num_classes, "tta_shift": tta_shift}
    spec_path, weights_path = directory / SPEC, directory / WEIGHTS
    atomic_write(spec_path, json.dumps(spec, indent=1))
    atomic_write(weights_path, lambda handle: np.savez(handle, **model_arrays(model)))  # type: ignore[arg-type]
    return spec_path, weights_path


def load_model_files(spec_path: Path, weights_path: Path, pm=None):
    """Rebuild the model described by the spec, through the installed plugins."""
    from harness.model import build_layers, build_loss
    from harness.plugins import get_registry

    spec = json.loads(Path(spec_path).read_text())
    registry = get_registry(pm)
    engine = registry.create("engine", spec["engine"], {}, section="engine")
    loss = spec["loss"]
    loss_name, loss_options = (loss, {}) if isinstance(loss, str) else (loss["type"], {k: v for k, v in loss.items() if k != "type"})
    model = engine.build_model(
        build_layers(registry, spec["engine"], spec["layers"], num_classes=spec.get("num_classes")),
        build_loss(registry, spec["engine"], loss_name, loss_options),
        input_dim=spec["input_dim"], rng=np.random.default_rng(0), dtype=np.dtype(spec["dtype"]),
    )
    targets = model_arrays(model)
    with np.load(weights_path, allow_pickle=False) as data:
        missing = sorted(set(targets) - set(data.files))
        if missing:
            raise DataError(f"{weights_path}: missing arrays {missing[:3]}; the weights are from a different model")
        for key, target in targets.items():
            np.copyto(target, data[key])
    return model, spec


def predict_classes(model, x: np.ndarray, dtype, chunk: int = 5000, tta_shift: int = 0) -> np.ndarray:
    """Class indices for a batch of inputs (any model of the Model protocol); with
    ``tta_shift``, from the mean outputs over shifted views (:mod:`harness.training.views`)."""
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), chunk):
        part = np.asarray(x[start:start + chunk], dtype=dtype)
        _, scores = views.outputs(model, part, np.zeros(len(part), dtype=np.int64), tta_shift)
        out[start:start + len(part)] = np.asarray(scores).argmax(axis=1)
    return out

"""Speed work must not change the numbers: training runs hashed against stored references.

Every configuration below trains a few epochs end to end (batch gathering, augmentation,
every layer kind, every optimizer, clipping, schedules, partial last batches, float32
and float64) on a seeded synthetic image set, then hashes the final weights, layer
buffers and per-epoch losses and accuracies. The stored hashes were
recorded with the engine as it was before the hot path was rewritten (preallocated
buffers, fused bias and activation, fewer optimizer passes): where the arithmetic order
is unchanged the result must be the same to the last bit.

Float results depend on the BLAS kernels and on the number of BLAS threads (OpenBLAS
splits a product differently over two threads), so runs are pinned to one BLAS thread,
and the hashes are only compared where the BLAS library, its CPU kernels and NumPy are
the ones they were recorded with; elsewhere the test is skipped with the reason.

Re-record (only after a deliberate change of arithmetic, with gradient checks passing):
``python tests/test_bitwise_training.py --record``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from threadpoolctl import threadpool_info, threadpool_limits

from harness import hookimpl
from harness.plugins import load_plugins
from harness.resources import config_dir
from harness.training.arrays import model_arrays
from harness.training.experiment import run_experiment
from harness_datasets.images import ImageDataset

REFERENCE = Path(__file__).parent / "fixtures" / "bitwise_reference.json"

COMMON = [
    "data=mnist", "data.name=synthetic_digits", "data.val_size=500", "tracking=none", "progress=never",
    "diagnostics.enabled=false", "reports.plots=false", "training.checkpoint_every=0",
]
SMALL_BEST = [
    "model.layers=[{type: dense, units: 48, init: he}, {type: relu}, {type: dropout, rate: 0.2},"
    " {type: dense, units: 40, init: he}, {type: relu}, {type: dropout, rate: 0.2},"
    " {type: dense, units: 10, init: xavier}]",
]
CASES: dict[str, list[str]] = {
    # the default experiment: 784-256-128-10 ReLU, momentum, cosine, 3000 % 128 != 0
    "default": ["training.epochs=4"],
    # mnist_best's kinds of layers at a small width: dropout, label smoothing, random shifts
    "best_like": [*SMALL_BEST, "model.loss={type: softmax_cross_entropy, label_smoothing: 0.1}",
                  "data.shift=2", "optimizer.lr=0.03", "training.epochs=3", "training.restore_best=false"],
    "activations_nesterov": [
        "model.layers=[{type: dense, units: 32}, {type: tanh}, {type: dense, units: 24}, {type: sigmoid},"
        " {type: dense, units: 16}, {type: leaky_relu, alpha: 0.1}, {type: dense, units: 10}]",
        "optimizer=nesterov", "optimizer.weight_decay=0.0005", "gd.batch_size=100", "training.epochs=2",
    ],
    "adam_clipping": ["optimizer=adam", "optimizer.clip_norm=1.0", "optimizer.clip_value=0.05",
                      "schedule=step", "schedule.every=1", "training.epochs=2"],
    "batch_norm_sgd": ["model=deep_mlp_bn", "+deep.width=24", "optimizer=sgd", "training.epochs=3"],
    "residual": ["model=deep_mlp_residual", "+deep.width=24", "+deep.activation=tanh", "optimizer.lr=0.01", "training.epochs=2"],
    "mse_float64_full_batch": ["model.loss=mse", "dtype=float64", "gd=batch", "optimizer.lr=0.5",
                               "data.train_size=1000", "training.epochs=3"],
    "sgd_one_example": ["gd=sgd", "optimizer.lr=0.01", "data.train_size=200", "training.epochs=1"],
}


def synthetic_digits(root=None, mirrors=None):
    """MNIST-shaped uint8 images: seeded noise blobs on a blank 4-pixel border, 10 classes."""
    rng = np.random.default_rng(1234)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, n)
        prototypes = np.random.default_rng(99).integers(0, 100, (10, 20, 20))
        noise = rng.integers(-250, 251, (n, 20, 20))
        out = np.zeros((n, 28, 28), dtype=np.uint8)
        out[:, 4:24, 4:24] = np.clip(prototypes[labels] + noise, 0, 255)
        return out, labels.astype(np.uint8)

    train_images, train_labels = images(3500)
    test_images, test_labels = images(500)
    return SimpleNamespace(train_images=train_images, train_labels=train_labels,
                           test_images=test_images, test_labels=test_labels)


class SyntheticDigits:
    @hookimpl
    def harness_register_datasets(self, register):
        register("synthetic_digits", partial(ImageDataset, synthetic_digits))


def blas_signature() -> dict:
    """What the bits of a float result depend on, besides the code."""
    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "architecture")}
        for info in threadpool_info() if info.get("user_api") == "blas"
    ]
    return {"numpy": np.__version__, "blas": blas}


def run_hash(overrides: list[str], tmp: Path) -> str:
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="bitwise"):
        cfg = compose("config", overrides=[*COMMON, f"paths.project_dir={tmp}", f"paths.output_dir={tmp}", *overrides])
    pm = load_plugins(use_env=False)
    pm.register(SyntheticDigits(), name="synthetic-digits")
    with threadpool_limits(1, user_api="blas"):
        run = run_experiment(cfg, pm=pm)
    digest = hashlib.sha256()
    for name, array in sorted(model_arrays(run.model).items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    kept = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
    history = [{k: float(epoch[k]) for k in kept} for epoch in run.history]
    digest.update(json.dumps([history, run.summary["test_loss"], run.summary["test_accuracy"]]).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def reference() -> dict:
    stored = json.loads(REFERENCE.read_text())
    if stored["platform"] != blas_signature():
        pytest.skip(f"hashes recorded with {stored['platform']}, this is {blas_signature()}")
    return stored["hashes"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_is_bitwise_unchanged(case, reference, tmp_path):
    assert run_hash(CASES[case], tmp_path) == reference[case], f"{case}: weights or metrics changed"


def record() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        hashes = {case: run_hash(overrides, Path(tmp)) for case, overrides in sorted(CASES.items())}
    REFERENCE.write_text(json.dumps({"platform": blas_signature(), "hashes": hashes}, indent=2) + "\n")
    print(json.dumps(hashes, indent=2))


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_bitwise_training.py --record")
    record()

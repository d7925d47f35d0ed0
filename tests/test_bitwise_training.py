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
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from harness import Splits, holdout, hookimpl
from harness.testing import train
from harness.training.arrays import model_arrays
from harness_datasets.augment import random_shifts

REFERENCE = Path(__file__).parent / "fixtures" / "bitwise_reference.json"

COMMON = ["data=mnist", "data.name=synthetic_digits", "data.val_size=500", "training.checkpoint_every=0"]
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


def synthetic_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-shaped uint8 images: seeded noise on class prototypes, blank 4-pixel border."""
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
    return train_images, train_labels, test_images, test_labels


class SyntheticDigits:
    """The MNIST dataset's splits and options (``data=mnist``) on :func:`synthetic_digits`."""

    input_dim = 28 * 28
    num_classes = 10

    def __init__(self, *, val_size: int = 5000, val_seed: int = 0, train_size: int | None = None,
                 test_size: int | None = None, shift: int = 0, root=None, mirrors=None):
        self.val_size, self.val_seed, self.train_size, self.test_size, self.shift = val_size, val_seed, train_size, test_size, shift

    def fetch(self) -> dict:
        return {}

    def load(self) -> Splits:
        train_images, train_labels, test_images, test_labels = synthetic_digits()
        features = lambda images: images.reshape(len(images), -1).astype(np.float32) * np.float32(1 / 255)
        train_x, train_y, val_x, val_y = holdout(features(train_images), train_labels.astype(np.int64), self.val_size, self.val_seed)
        if self.train_size is not None:
            train_x, train_y = train_x[: self.train_size], train_y[: self.train_size]
        test_x, test_y = features(test_images), test_labels.astype(np.int64)
        if self.test_size is not None:
            test_x, test_y = test_x[: self.test_size], test_y[: self.test_size]
        augment = random_shifts(self.shift) if self.shift else None
        return Splits(train_x, train_y, val_x, val_y, test_x, test_y, augment)


class SyntheticDigitsPlugin:
    @hookimpl
    def harness_register_datasets(self, register):
        register("synthetic_digits", SyntheticDigits)


def blas_signature() -> dict:
    """What the bits of a float result depend on, besides the code."""
    blas = [
        {k: info.get(k) for k in ("internal_api", "version", "architecture")}
        for info in threadpool_info() if info.get("user_api") == "blas"
    ]
    return {"numpy": np.__version__, "blas": blas}


def run_hash(overrides: list[str], tmp: Path) -> str:
    with threadpool_limits(1, user_api="blas"):
        outcome = train([*COMMON, *overrides], plugins=[SyntheticDigitsPlugin()], output_dir=tmp)
    digest = hashlib.sha256()
    for name, array in sorted(model_arrays(outcome.model).items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    kept = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
    history = [{k: float(epoch[k]) for k in kept} for epoch in outcome.history]
    digest.update(json.dumps([history, outcome.summary["test_loss"], outcome.summary["test_accuracy"]]).encode())
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

"""28×28 grey-level image datasets read from canonical IDX files.

Pixels become floats in [0, 1]; a validation split is held out of the 60k training
images by a seeded permutation that does not depend on the run's seed, so every run of
a sweep selects models on the same examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import DataError, DatasetProvenance, Splits, holdout
from harness import validation as v
from harness_datasets import memo
from harness_datasets.augment import random_shifts
from harness_datasets.mnist import MnistArrays, read_mnist_files
from harness_datasets.provenance import provenance
from harness_datasets.sources import DatasetSpec

Fetch = Callable[..., dict[str, Path]]


@dataclass(frozen=True)
class ImageFiles:
    """A dataset of four canonical IDX files: their pinned digests and how to obtain them."""

    spec: DatasetSpec
    fetch: Fetch  # fetch(root=..., mirrors=..., offline=...) -> {file name: verified path}


TRAIN_POOL = 60_000  # training images of every 28x28 IDX dataset here; the validation split comes out of them

# What ``harness check`` builds an image dataset with: a few examples, and never a download
# (the check is skipped, saying why, when the files are not in the cache).
CHECK_OPTIONS = {"train_size": 200, "val_size": 100, "test_size": 100, "offline": True}


class ImageDataset:
    """A 28×28 image dataset of ``files``; ``offline=True`` uses only the cache and local
    copies (a missing file is a :class:`DataError` instead of a download)."""

    input_dim = 28 * 28
    num_classes = 10

    def __init__(self, files: ImageFiles, *, root: str | None = None, val_size: int = 5000, val_seed: int = 0,
                 train_size: int | None = None, test_size: int | None = None, mirrors: list[str] | None = None,
                 shift: int = 0, offline: bool = False):
        self.files = files
        self.offline = v.boolean("offline", offline)
        self.root = root
        self.val_size = v.integer("val_size", val_size, low=1, high=TRAIN_POOL - 1)
        self.val_seed = v.integer("val_seed", val_seed, low=0)
        self.train_size = v.optional(v.integer, "train_size", train_size, low=1)
        left = TRAIN_POOL - self.val_size
        if self.train_size is not None and self.train_size > left:
            # Cut silently, the run would train on what is left while recording train_size.
            v.fail("train_size", f"at most {left}: data.val_size={self.val_size} leaves {left} of the "
                   f"{TRAIN_POOL} training images (lower data.train_size or data.val_size)", self.train_size)
        self.test_size = v.optional(v.integer, "test_size", test_size, low=1, high=10_000)
        self.mirrors = mirrors  # one URL or a list; the source chain checks them
        self.shift = v.integer("shift", shift, low=0, high=8)

    def fetch(self) -> dict[str, Path]:
        """The four IDX files in the cache, verified against their pinned SHA-256."""
        if not self.offline:
            return self.files.fetch(root=self.root, mirrors=self.mirrors)
        try:
            return self.files.fetch(root=self.root, mirrors=self.mirrors, offline=True)
        except DataError as exc:
            raise DataError(f"{exc} (offline=True: nothing is downloaded)") from None

    def load(self) -> Splits:
        paths = self.fetch()
        arrays = memo.arrays(paths, lambda: _read_only(read_mnist_files(paths, self.files.spec.title)))
        # Split the example indices, cut them, then gather and convert only the images kept:
        # a quick run (train_size=200) copies and converts 200 images, not 60,000 (the
        # values are the same as splitting the images themselves).
        images = _flat(arrays.train_images)
        train_i, train_y, val_i, val_y = holdout(
            np.arange(len(images)), arrays.train_labels.astype(np.int64), self.val_size, self.val_seed
        )
        if self.train_size is not None:
            train_i, train_y = train_i[: self.train_size], train_y[: self.train_size]
        train_x, val_x = images[train_i], images[val_i]
        test_x, test_y = _flat(arrays.test_images), arrays.test_labels.astype(np.int64)
        if self.test_size is not None:
            test_x, test_y = test_x[: self.test_size], test_y[: self.test_size]
        augment = random_shifts(self.shift) if self.shift else None
        return Splits(_features(train_x), train_y, _features(val_x), val_y, _features(test_x), test_y, augment,
                      self.provenance(paths))

    def provenance(self, paths: dict[str, Path]) -> dict[str, DatasetProvenance]:
        """Per split: the pinned file digests and the split's parameters, and the cache folder."""
        source = str(Path(next(iter(paths.values()))).parent) if paths else self.files.spec.key
        return provenance(
            self.files.spec.key, source, [f.sha256 for f in self.files.spec.files],
            {"train": [self.val_size, self.val_seed, self.train_size], "val": [self.val_size, self.val_seed],
             "test": [self.test_size]},
        )


def _read_only(arrays: MnistArrays) -> MnistArrays:
    """The arrays every job of this process shares (:mod:`harness_datasets.memo`), locked."""
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


def _features(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1]."""
    return pixels.astype(np.float32) * np.float32(1 / 255)

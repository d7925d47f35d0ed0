"""Interleaved spirals: a small 2-D problem that needs a curved decision boundary."""

from __future__ import annotations

import numpy as np

from harness import DatasetProvenance, Splits
from harness import validation as v


class Spirals:
    """``arms`` spirals of ``n_per_arm`` points each, one class per arm, with Gaussian noise.

    Drawn from a seeded generator, so two loads give the same examples; split into
    train / validation / test by fixed fractions."""

    input_dim = 2

    def __init__(self, arms: int = 3, n_per_arm: int = 300, noise: float = 0.2, seed: int = 0,
                 val_fraction: float = 0.2, test_fraction: float = 0.2):
        self.num_classes = v.integer("arms", arms, low=2, high=10)
        self.n_per_arm = v.integer("n_per_arm", n_per_arm, low=10)
        self.noise = v.number("noise", noise, low=0)
        self.seed = v.integer("seed", seed, low=0)
        self.val_fraction = v.number("val_fraction", val_fraction, low=0, high=0.5, low_open=True)
        self.test_fraction = v.number("test_fraction", test_fraction, low=0, high=0.5, low_open=True)

    def fetch(self) -> dict:
        """Nothing to download: the points are generated."""
        return {}

    def load(self) -> Splits:
        rng = np.random.default_rng(self.seed)
        radius = np.tile(np.linspace(0.2, 1.0, self.n_per_arm), self.num_classes)
        arm = np.repeat(np.arange(self.num_classes), self.n_per_arm)
        angle = arm * 2 * np.pi / self.num_classes + radius * 4.0 + rng.normal(0, self.noise, radius.size)
        x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).astype(np.float32)
        order = rng.permutation(len(arm))
        x, y = x[order], arm[order].astype(np.int64)
        n_val, n_test = int(len(y) * self.val_fraction), int(len(y) * self.test_fraction)
        n_train = len(y) - n_val - n_test
        digest = f"spirals-{self.num_classes}-{self.n_per_arm}-{self.noise}-{self.seed}"
        provenance = {split: DatasetProvenance(f"spirals-{split}", digest, "synthetic:spirals") for split in ("train", "val", "test")}
        return Splits(x[:n_train], y[:n_train], x[n_train:n_train + n_val], y[n_train:n_train + n_val],
                      x[n_train + n_val:], y[n_train + n_val:], provenance=provenance)

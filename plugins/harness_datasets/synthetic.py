"""Small synthetic classification sets: seconds to train, for tests and demos."""

from __future__ import annotations

import numpy as np

from harness import Splits
from harness import validation as v
from harness_datasets.provenance import synthetic


class Blobs:
    """Gaussian clusters, one centre per class, drawn from a seeded generator."""

    def __init__(self, n_samples: int = 1200, n_features: int = 8, n_classes: int = 3,
                 spread: float = 1.0, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2):
        self.n_samples = v.integer("n_samples", n_samples, low=10)
        self.input_dim = v.integer("n_features", n_features, low=1)
        self.num_classes = v.integer("n_classes", n_classes, low=2)
        self.spread = v.positive("spread", spread)
        self.seed = v.integer("seed", seed, low=0)
        self.val_fraction = v.number("val_fraction", val_fraction, low=0, high=0.5)
        self.test_fraction = v.number("test_fraction", test_fraction, low=0, high=0.5, low_open=True)

    def fetch(self) -> dict:
        """Nothing to download: the examples are drawn from a seeded generator."""
        return {}

    def load(self) -> Splits:
        rng = np.random.default_rng(self.seed)
        centres = rng.standard_normal((self.num_classes, self.input_dim)) * 3.0
        y = rng.integers(0, self.num_classes, self.n_samples)
        x = (centres[y] + self.spread * rng.standard_normal((self.n_samples, self.input_dim))).astype(np.float32)
        n_val = int(self.n_samples * self.val_fraction)
        n_test = max(1, int(self.n_samples * self.test_fraction))
        n_train = self.n_samples - n_val - n_test
        return Splits(
            x[:n_train], y[:n_train],
            x[n_train:n_train + n_val], y[n_train:n_train + n_val],
            x[n_train + n_val:], y[n_train + n_val:],
            provenance=synthetic("blobs", [self.n_samples, self.input_dim, self.num_classes, self.spread, self.seed, self.val_fraction, self.test_fraction]),
        )

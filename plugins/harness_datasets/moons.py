"""Two interleaving half circles: the classic toy problem a linear model cannot solve.

Small enough for the scalar ``Value`` engine to train in seconds
(``harness-train +experiment=scalar_moons``), curved enough to need hidden layers.
"""

from __future__ import annotations

import numpy as np

from harness import Splits
from harness import validation as v
from harness_datasets.provenance import synthetic


def make_moons(n_samples: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: ``n_samples`` points, float64 ``(n, 2)``, labels 0 (upper moon) / 1, shuffled.

    The upper moon is the half circle of radius 1 around the origin, the lower one the
    same shape turned over and shifted to ``(1, 0.5)``; Gaussian noise of standard
    deviation ``noise`` is added to both coordinates (scikit-learn's construction).
    """
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_lower)
    x = np.concatenate([
        np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1),
        np.stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1),
    ])
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    x += noise * rng.standard_normal(x.shape)
    order = rng.permutation(n_samples)
    return x[order], y[order]


class Moons:
    """Two moons split into train / validation / test, drawn from a seeded generator."""

    input_dim = 2
    num_classes = 2

    def __init__(self, n_samples: int = 300, noise: float = 0.1, seed: int = 0,
                 val_fraction: float = 0.2, test_fraction: float = 0.2):
        self.n_samples = v.integer("n_samples", n_samples, low=10)
        self.noise = v.number("noise", noise, low=0)
        self.seed = v.integer("seed", seed, low=0)
        self.val_fraction = v.number("val_fraction", val_fraction, low=0, high=0.5)
        self.test_fraction = v.number("test_fraction", test_fraction, low=0, high=0.5, low_open=True)

    def fetch(self) -> dict:
        """Nothing to download: the examples are drawn from a seeded generator."""
        return {}

    def load(self) -> Splits:
        x, y = make_moons(self.n_samples, self.noise, np.random.default_rng(self.seed))
        x = x.astype(np.float32)
        n_val = int(self.n_samples * self.val_fraction)
        n_test = max(1, int(self.n_samples * self.test_fraction))
        n_train = self.n_samples - n_val - n_test
        return Splits(
            x[:n_train], y[:n_train],
            x[n_train:n_train + n_val], y[n_train:n_train + n_val],
            x[n_train + n_val:], y[n_train + n_val:],
            provenance=synthetic("moons", [self.n_samples, self.noise, self.seed, self.val_fraction, self.test_fraction]),
        )

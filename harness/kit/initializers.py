"""Weight initialisation schemes shared by every engine.

They live in the core (not in one engine) so that two engines given the same seed
start from the same weights and can be compared number for number.
"""

from __future__ import annotations

import numpy as np

from harness.validation import fail


def he(rng: np.random.Generator, fan_in: int, fan_out: int, scale: float) -> np.ndarray:
    """He et al. (2015): variance 2/fan_in keeps ReLU activations from shrinking."""
    return rng.standard_normal((fan_in, fan_out)) * (scale * np.sqrt(2.0 / fan_in))


def xavier(rng: np.random.Generator, fan_in: int, fan_out: int, scale: float) -> np.ndarray:
    """Glorot & Bengio (2010): variance 2/(fan_in+fan_out), for tanh/sigmoid/softmax."""
    return rng.standard_normal((fan_in, fan_out)) * (scale * np.sqrt(2.0 / (fan_in + fan_out)))


def normal(rng: np.random.Generator, fan_in: int, fan_out: int, scale: float) -> np.ndarray:
    """Plain Gaussian with standard deviation ``scale``: the naive scheme (0.01 by habit)."""
    return rng.standard_normal((fan_in, fan_out)) * scale


SCHEMES = {"he": he, "xavier": xavier, "normal": normal}
DEFAULT_SCALE = {"he": 1.0, "xavier": 1.0, "normal": 0.01}


def check_scheme(field: str, name) -> str:
    if name not in SCHEMES:
        fail(field, "one of " + ", ".join(SCHEMES), name)
    return name


def init_weights(name: str, rng: np.random.Generator, fan_in: int, fan_out: int, dtype, scale: float | None = None) -> np.ndarray:
    """A ``(fan_in, fan_out)`` weight matrix drawn with scheme ``name``, cast to ``dtype``."""
    scale = DEFAULT_SCALE[name] if scale is None else scale
    return SCHEMES[name](rng, fan_in, fan_out, scale).astype(dtype)

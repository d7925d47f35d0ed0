"""Weight initialisation schemes shared by every engine.

They live in the core (not in one engine) so that two engines given the same seed
start from the same weights and can be compared number for number.

Every scheme is a standard normal draw (float64) times a factor. :func:`init_weights`
draws it a block of rows at a time straight into the ``dtype`` array it returns, so a
float32 layer never needs a float64 copy of itself (twice its size, for a moment);
the generator hands out the same stream of numbers in blocks as in one call, so the
weights are the same bits as one ``rng.standard_normal((fan_in, fan_out))`` would give.
"""

from __future__ import annotations

import numpy as np

from harness.validation import fail


def he_std(fan_in: int, fan_out: int, scale: float) -> float:
    """He et al. (2015): variance 2/fan_in keeps ReLU activations from shrinking."""
    return scale * np.sqrt(2.0 / fan_in)


def xavier_std(fan_in: int, fan_out: int, scale: float) -> float:
    """Glorot & Bengio (2010): variance 2/(fan_in+fan_out), for tanh/sigmoid/softmax."""
    return scale * np.sqrt(2.0 / (fan_in + fan_out))


def normal_std(fan_in: int, fan_out: int, scale: float) -> float:
    """Plain Gaussian with standard deviation ``scale``: the naive scheme (0.01 by habit)."""
    return scale


STDS = {"he": he_std, "xavier": xavier_std, "normal": normal_std}
DEFAULT_SCALE = {"he": 1.0, "xavier": 1.0, "normal": 0.01}
BLOCK_VALUES = 1 << 20  # float64 numbers drawn at a time: 8 MiB of scratch, whatever the layer


def _scheme(name: str):
    def draw(rng: np.random.Generator, fan_in: int, fan_out: int, scale: float) -> np.ndarray:
        return rng.standard_normal((fan_in, fan_out)) * STDS[name](fan_in, fan_out, scale)

    draw.__name__ = name
    draw.__doc__ = f"A float64 ``(fan_in, fan_out)`` draw of scheme {name!r}: {STDS[name].__doc__}"
    return draw


he, xavier, normal = _scheme("he"), _scheme("xavier"), _scheme("normal")
SCHEMES = {"he": he, "xavier": xavier, "normal": normal}


def check_scheme(field: str, name) -> str:
    if name not in SCHEMES:
        fail(field, "one of " + ", ".join(SCHEMES), name)
    return name


def init_weights(name: str, rng: np.random.Generator, fan_in: int, fan_out: int, dtype, scale: float | None = None,
                 block_values: int = BLOCK_VALUES) -> np.ndarray:
    """A ``(fan_in, fan_out)`` weight matrix drawn with scheme ``name``, in ``dtype``.

    Bit for bit ``SCHEMES[name](rng, fan_in, fan_out, scale).astype(dtype)``, drawn
    ``block_values`` numbers (whole rows) at a time.
    """
    scale = DEFAULT_SCALE[name] if scale is None else scale
    std = STDS[name](fan_in, fan_out, scale)
    out = np.empty((fan_in, fan_out), dtype=dtype)
    rows = max(1, block_values // max(1, fan_out))
    for start in range(0, fan_in, rows):
        stop = min(fan_in, start + rows)
        out[start:stop] = rng.standard_normal((stop - start, fan_out)) * std
    return out

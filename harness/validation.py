"""Small checks that turn a bad config value into a one-line :class:`ConfigError`.

Messages start with the field name so that the registry can prefix the config section
(``optimizer`` + ``lr must be > 0, got -1.0`` -> ``optimizer.lr must be > 0, got -1.0``).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from harness.errors import ConfigError


def fail(field: str, requirement: str, value) -> None:
    raise ConfigError(f"{field} must be {requirement}, got {value!r}")


def _finite_real(value) -> bool:
    """A real number that is finite as a float (bools refused; an integer too large for a
    float, 10**400, is refused rather than raising OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def number(field: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number within optional bounds; returns it as float."""
    lo_sym, hi_sym = ("(" if low_open else "["), (")" if high_open else "]")
    requirement = "a finite number"
    if low is not None or high is not None:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        requirement = f"a number in {lo_sym}{lo}, {hi}{hi_sym}"
    if not _finite_real(value):
        fail(field, requirement, value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        fail(field, requirement, value)
    return float(value)


def positive(field: str, value) -> float:
    if not _finite_real(value) or value <= 0:
        fail(field, "> 0", value)
    return float(value)


def integer(field: str, value, *, low=None, high=None) -> int:
    """An integer (bools refused) within optional inclusive bounds."""
    if low is not None and high is not None:
        requirement = f"an integer in [{low}, {high}]"
    elif low is not None:
        requirement = f"an integer >= {low}"
    elif high is not None:
        requirement = f"an integer <= {high}"
    else:
        requirement = "an integer"
    if isinstance(value, bool) or not isinstance(value, Integral):
        fail(field, requirement, value)
    if (low is not None and value < low) or (high is not None and value > high):
        fail(field, requirement, value)
    return int(value)


def optional(check, field: str, value, **bounds):
    """``check`` applied unless the value is ``None``."""
    return None if value is None else check(field, value, **bounds)


def one_of(field: str, value, choices) -> str:
    if value not in choices:
        fail(field, "one of " + ", ".join(map(str, choices)), value)
    return value


def boolean(field: str, value) -> bool:
    if not isinstance(value, bool):
        fail(field, "true or false", value)
    return value

"""Argument types the benchmark scripts share: counts are checked where they are parsed.

``--runs 0`` used to end minutes later in a traceback (the median of nothing); with these
types argparse stops at once and names the option and what it accepts, e.g.
``train_mlp.py: error: argument --runs: expected an integer >= 1, got 0``. No harness
import here: ``reference_torch.py`` runs in an interpreter that only has PyTorch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


def integers(low: int, at_least_count: int = 1) -> Callable[[str], list[int]]:
    """An argparse ``type``: comma-separated integers, each ``>= low``, at least ``at_least_count`` of them."""
    each = at_least(low)

    def parse(text: str) -> list[int]:
        values = [each(part.strip()) for part in text.split(",") if part.strip()]
        if len(values) < at_least_count:
            raise argparse.ArgumentTypeError(
                f"expected {at_least_count} or more comma-separated integers >= {low}, got {text!r}")
        return values

    return parse

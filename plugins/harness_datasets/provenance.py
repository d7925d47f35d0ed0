"""Where a dataset's splits come from, for trackers that record data inputs.

A digest names the exact examples without hashing arrays at run time: it is derived
from what determines them (the pinned file digests, or a generator's parameters) and
the split's own parameters, so it is the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from harness import DatasetProvenance

SPLITS = ("train", "val", "test")


def digest(parts: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def provenance(name: str, source: str, determined_by: Sequence[object],
               per_split: Mapping[str, Sequence[object]] | None = None) -> dict[str, DatasetProvenance]:
    """``{"train": ..., "val": ..., "test": ...}`` for a dataset ``name`` read from ``source``."""
    per_split = per_split or {}
    return {
        split: DatasetProvenance(f"{name}-{split}", digest([list(determined_by), split, list(per_split.get(split, ()))]), source)
        for split in SPLITS
    }


def synthetic(name: str, parameters: Sequence[object]) -> dict[str, DatasetProvenance]:
    """Splits drawn from a seeded generator: its parameters determine every example."""
    return provenance(name, f"synthetic:{name}", parameters)

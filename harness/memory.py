"""Will the model's parameters fit in memory? Asked before any weight is drawn.

``model.layers.0.units=100000000`` would otherwise get as far as NumPy's allocator and
die there with a traceback (after loading the data, on some machines after swapping for
minutes). The estimate reads the layer specs the way every built-in engine builds them:
an entry with ``units`` is a dense layer of ``inputs × units`` weights and ``units``
biases whose output has ``units`` features; nested layer lists (a residual block's
``layers``) are counted on the same input; any other entry keeps the size and is counted
as holding nothing. That is a lower bound (third-party layers, optimizer slots, the
best-epoch snapshot come on top), so what it refuses cannot fit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError

COPIES = 2  # every parameter array has a gradient array of the same size


def parameter_count(specs: Iterable[Any], input_dim: int) -> int:
    """Parameters of the dense layers in ``specs`` (``model.layers``) on ``input_dim`` inputs."""
    return _walk(list(specs), input_dim)[0]


def _walk(specs: list[Any], dim: int) -> tuple[int, int]:
    total = 0
    for spec in specs:
        if not isinstance(spec, dict):
            continue
        for value in spec.values():
            if isinstance(value, list) and value and all(isinstance(v, dict) and "type" in v for v in value):
                total += _walk(value, dim)[0]
        units = spec.get("units")
        if isinstance(units, int) and not isinstance(units, bool) and units > 0:
            total += dim * units + units
            dim = units
    return total, dim


def available_memory() -> int | None:
    """Bytes this process can still allocate: the system's available memory, or what is
    left under this process's cgroup limit if that is less; ``None`` when unknown."""
    candidates = [m for m in (_meminfo_available(), _cgroup_room()) if m is not None]
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(candidates)


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Limit minus usage of the cgroup (v2, then v1), or ``None`` without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit_text = Path(limit_file).read_text().strip()
            if limit_text == "max":
                return None
            limit, usage = int(limit_text), int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit >= 1 << 60:  # v1 says "no limit" with a huge number
            return None
        return max(0, limit - usage)
    return None


def check_parameter_memory(specs: Iterable[Any], input_dim: int, dtype: Any,
                           available: int | None = None) -> int:
    """Refuse, in one line, a model whose parameters and gradients alone exceed the memory
    available; return the bytes they need."""
    dtype = np.dtype(dtype)
    count = parameter_count(specs, input_dim)
    needed = count * dtype.itemsize * COPIES
    room = available_memory() if available is None else available
    if room is not None and needed > room:
        raise ConfigError(
            f"model.layers: {count:,} {dtype.name} parameters need {_size(needed)} with their gradients, "
            f"more than the {_size(room)} of memory available; use fewer units"
        )
    return needed


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"

"""Imports that moved in plugin API 1.0, resolved for either core (removed at merge)."""

try:
    from harness import atomic_write  # plugin API 1.0
except ImportError:  # pragma: no cover - the core before it
    from harness.data.cache import atomic_write

__all__ = ["atomic_write"]

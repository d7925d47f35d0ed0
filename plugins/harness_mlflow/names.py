"""Run names for the MLflow UI: what an experiment varies, never where it is stored.

A name is read in a table next to others, so it keeps only the overrides that say what
the run computes: no tracking URIs, output paths or Hydra settings, which differ from
run to run (or machine to machine) and crowd out the part that matters.
"""

from __future__ import annotations

NOT_IN_NAMES = ("paths.", "tracking.", "hydra.", "hydra/", "resume", "progress")
LIMIT = 250  # a database server may refuse longer names


def readable(overrides: list[str]) -> list[str]:
    """Overrides that describe the experiment."""
    return [o for o in overrides if not o.lstrip("+~").startswith(NOT_IN_NAMES)]


def child_name(overrides: list[str], swept: list[str], fallback: str) -> str:
    """``gd=sgd optimizer.lr=0.1``: only the overrides the sweep varies."""
    keep = [o for o in readable(overrides) if o.split("=", 1)[0].lstrip("+~") in swept]
    return short(" ".join(keep) or fallback)


def short(name: str, limit: int = LIMIT) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"

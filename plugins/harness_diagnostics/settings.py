"""The ``diagnostics`` config section: on or off, how often, how big a probe.

Read from the run's config through ``config.section("diagnostics")``, so a config
without the section (an older preset, a test) gets the defaults below. Every value is
checked here and a bad one is a one-line error naming ``diagnostics.<option>``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from harness import ConfigError
from harness import validation as v

SECTION = "diagnostics"
AUTO = "auto"


@dataclass(frozen=True)
class Settings:
    """What the diagnostics plugin records, and when.

    ``every_steps`` 100 gives 4-5 records per epoch of the default MNIST run and costs
    it about 2.5 % of its epoch time (``benchmarks/diagnostics_overhead.py``).
    """

    enabled: bool = True
    every_steps: int = 100           # record at step 0 and every N optimizer steps
    probe_size: int = 128            # training examples in the fixed probe batch
    plots: bool | str = "auto"       # draw gradient_norms.png and layer_profile.png at the end (auto: not in sweep jobs)
    profile_step: int | None = None  # step of the layer profile; None: the first and last recorded
    summary: bool = False            # at the end of a sweep, draw diagnostics_summary.png (the vanishing preset)


def draws_plots(settings: Settings, run) -> bool:
    """``plots: auto`` draws them for a run of its own, not for a sweep's job (two figures
    per job cost a sweep of tiny jobs more than their training; the ``diag/`` metrics and
    ``records.json`` are kept either way)."""
    return run.sweep is None if settings.plots == AUTO else bool(settings.plots)


def _plots(value) -> bool | str:
    if value != AUTO and not isinstance(value, bool):
        v.fail(f"{SECTION}.plots", "true, false or auto", value)
    return value


def from_config(config) -> Settings:
    """The run's diagnostics settings; defaults for any option the section leaves out."""
    section = getattr(config, "section", None)
    options = dict(section(SECTION)) if callable(section) else {}
    return parse(options)


def parse(options: dict) -> Settings:
    accepted = [f.name for f in fields(Settings)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{SECTION}: unknown option {', '.join(repr(u) for u in unknown)}; accepted: {', '.join(accepted)}"
        )
    merged = {**{f.name: f.default for f in fields(Settings)}, **options}
    return Settings(
        enabled=v.boolean(f"{SECTION}.enabled", merged["enabled"]),
        every_steps=v.integer(f"{SECTION}.every_steps", merged["every_steps"], low=1),
        probe_size=v.integer(f"{SECTION}.probe_size", merged["probe_size"], low=1),
        plots=_plots(merged["plots"]),
        profile_step=v.optional(v.integer, f"{SECTION}.profile_step", merged["profile_step"], low=0),
        summary=v.boolean(f"{SECTION}.summary", merged["summary"]),
    )

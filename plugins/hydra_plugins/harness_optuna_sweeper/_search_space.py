"""Hydra override grammar -> Optuna distributions.

``choice(a, b)`` or ``a,b`` is categorical; ``range(start, stop, step)`` is integers
(``stop`` excluded, as in Hydra); ``interval(low, high)`` is a float, ``tag(log, ...)``
samples it on a log scale and ``tag(int, interval(...))`` makes it an integer. An
override without a sweep is passed to every trial unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

from harness import ConfigError


@dataclass(frozen=True)
class SearchSpace:
    distributions: dict[str, Any]  # optuna name -> distribution
    keys: dict[str, str]           # optuna name -> the override key (with any + / ~ prefix)
    fixed: list[str]               # overrides every trial gets

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The job's overrides for a trial's ``params``."""
        return [*self.fixed, *(f"{self.keys[name]}={format_value(params[name])}" for name in self.distributions)]


def format_value(value: Any) -> str:
    """The override text of a value: floats in full (``repr`` round-trips exactly)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(value) if isinstance(value, float) else str(value)


def parse(params: dict[str, str], arguments: list[str], config_loader=None) -> SearchSpace:
    """The search space of ``hydra.sweeper.params`` and the command line's overrides
    (a key on the command line replaces the same key in ``params``)."""
    texts = {str(k): f"{k}={v}" for k, v in (params or {}).items()}
    parser = OverridesParser.create(config_loader=config_loader)
    for override in parser.parse_overrides(list(arguments)):
        texts[override.get_key_element()] = _text(override)
    distributions: dict[str, Any] = {}
    keys: dict[str, str] = {}
    fixed: list[str] = []
    for override in parser.parse_overrides(list(texts.values())):
        if override.is_sweep_override():
            name = override.key_or_group
            distributions[name] = distribution(override)
            keys[name] = override.get_key_element()
        else:
            fixed.append(_text(override))
    if not distributions:
        raise ConfigError("hydra.sweeper.params: the Optuna sweeper needs at least one parameter to search, "
                          "e.g. optimizer.lr: tag(log, interval(1e-3, 1))")
    return SearchSpace(distributions, keys, fixed)


def _text(override: Override) -> str:
    """The override as written; the parser sets it on every override it returns."""
    assert override.input_line is not None
    return override.input_line


def distribution(override: Override):
    import optuna.distributions as d

    value, key = override.value(), override.get_key_element()
    if isinstance(value, ChoiceSweep):
        choices = [_plain(v) for v in value.list]
        if not choices:
            raise ConfigError(f"hydra.sweeper.params.{key}: choice() needs at least one value")
        return d.CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        assert start is not None and stop is not None  # the grammar fills both: range(5) is range(0, 5)
        if isinstance(start, int) and isinstance(stop, int) and isinstance(step, int):
            last = start + ((stop - 1 - start) // step) * step
            if step <= 0 or last < start:
                raise ConfigError(f"hydra.sweeper.params.{key}: range({start}, {stop}, {step}) is empty")
            return d.IntDistribution(start, last, step=step)
        return d.FloatDistribution(float(start), float(stop), step=float(step))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        low, high = value.start, value.end
        assert low is not None and high is not None  # interval(low, high) always has both
        if not low < high or (log and low <= 0):
            raise ConfigError(f"hydra.sweeper.params.{key}: interval({low}, {high}) needs low < high"
                              + (" and low > 0 on a log scale" if log else ""))
        if "int" in value.tags:
            return d.IntDistribution(int(low), int(high), log=log)
        return d.FloatDistribution(low, high, log=log)
    raise ConfigError(f"hydra.sweeper.params.{key}: {override.input_line!r} is not a sweep the Optuna sweeper "
                      f"knows (choice, range, interval, tag(log, interval(...)))")


def _plain(element):
    """A categorical value as Optuna stores it: None, bool, int, float or str."""
    from hydra.core.override_parser.types import QuotedString

    if isinstance(element, QuotedString):
        return element.text
    if element is None or isinstance(element, (bool, int, float, str)):
        return element
    raise ConfigError(f"choice(): {element!r} is not a plain value (a number, a string, true/false or null)")

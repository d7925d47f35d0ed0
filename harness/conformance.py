"""The conformance suite: every registered checker over every registered component.

What ``harness check``, the pytest plugin (:mod:`harness.pytest_plugin`) and a plugin
author's own tests share. The suite knows no checker and no engine by name: it asks the
registry for

* **subjects**: each layer, activation and loss of each engine (``backprop:dense``);
  each such name registered for two or more engines, as one subject spanning them
  (``autograd+backprop:dense``, for checks that compare engines); each optimizer,
  schedule and dataset. A component factory's ``check_variants`` (a list of option
  dicts) adds one subject per variant, checked by every checker like the plain one
  (``backprop:softmax_cross_entropy(label_smoothing=0.1)``);
* **checkers**: the gradient checkers plugins register. A checker has a ``name``,
  ``check(subject) -> list[CheckResult]`` and, optionally, ``applies_to(subject)``;
  without it, it checks the single-engine layers, activations and losses.

Every (subject, checker) pair that applies is one *case*. A case never stops the suite:
a checker that raises or returns something unexpected becomes a failed result naming
the component and the exception, so one broken plugin cannot hide the others' results.
A plugin that failed to import fails the whole suite (:attr:`SuiteReport.failed_plugins`):
its components are missing, and "all passed" would hide it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import ConfigError, PluginError
from harness.plugins import PluginFailure
from harness.registry import Entry, Registry

COMPONENT_KINDS = ("layer", "activation", "loss")
#: Kinds checked as a whole, one subject per registered name.
WHOLE_KINDS = ("optimizer", "schedule", "dataset")
CHECKED_KINDS = (*COMPONENT_KINDS, *WHOLE_KINDS)


# ------------------------------------------------------------------------ results


@dataclass(frozen=True)
class CheckResult:
    """One comparison: a component's parameter (or input) against a reference.

    ``error`` is what the check measures, named by ``measure`` (a relative error for
    gradient checks, a loss ratio for an optimizer's descent), and the result passes
    when it is below ``tolerance``; a NaN error fails. A skipped result says why the
    check could not apply (``detail``) and neither passes nor fails.
    """

    component: str
    check: str
    parameter: str
    error: float
    tolerance: float
    detail: str = ""
    skipped: bool = False
    measure: str = "relative error"

    @property
    def passed(self) -> bool:
        return not self.skipped and self.error < self.tolerance

    @property
    def failed(self) -> bool:
        return not self.skipped and not self.error < self.tolerance

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else "passed" if self.passed else "failed"

    def describe(self) -> str:
        """One line naming the component, the check, the parameter and the error."""
        head = f"{self.component} [{self.check}] {self.parameter}"
        if self.skipped:
            return f"{head}: skipped ({self.detail})"
        verdict = "ok" if self.passed else "FAILED"
        if math.isinf(self.error) and self.detail:  # nothing was measured: say what went wrong
            return f"{head}: {self.detail} {verdict}"
        detail = f"; {self.detail}" if self.detail else ""
        return f"{head}: {self.measure} {self.error:.2e} (tolerance {self.tolerance:.0e}){detail} {verdict}"

    def as_dict(self) -> dict:
        data = {**asdict(self), "passed": self.passed, "status": self.status}
        for key in ("error", "tolerance"):  # JSON has no NaN or infinity
            if not math.isfinite(data[key]):
                data[key] = None
        return data


# ----------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class Subject:
    """A thing the suite checks: one component of one engine, one name across engines, an
    optimizer, a schedule or a dataset; optionally with a variant of its options."""

    kind: str
    name: str
    entries: tuple[Entry, ...]
    registry: Registry = field(repr=False, compare=False)
    variant: tuple[tuple[str, Any], ...] = ()  # options of one check_variants entry

    @property
    def engines(self) -> tuple[str, ...]:
        return tuple(e.engine for e in self.entries if e.engine)

    @property
    def plugins(self) -> tuple[str, ...]:
        return tuple(sorted({e.plugin for e in self.entries}))

    @property
    def is_component(self) -> bool:
        """A layer, activation or loss (as opposed to an optimizer, schedule or dataset)."""
        return self.kind in COMPONENT_KINDS

    @property
    def label(self) -> str:
        """``backprop:dense``, ``autograd+backprop:dense``, ``adam``, or with a variant
        ``backprop:softmax_cross_entropy(label_smoothing=0.1)``."""
        base = f"{'+'.join(self.engines)}:{self.name}" if self.engines else self.name
        if not self.variant:
            return base
        return f"{base}({', '.join(f'{key}={value}' for key, value in self.variant)})"

    def entry(self, engine: str | None = None) -> Entry:
        if engine is None:
            if len(self.entries) != 1:
                raise ValueError(f"{self.label} spans engines {', '.join(self.engines)}; name one")
            return self.entries[0]
        for entry in self.entries:
            if entry.engine == engine:
                return entry
        raise ValueError(f"{self.label} has no engine {engine!r}")

    def check_options(self, engine: str | None = None) -> dict:
        """The options checks build the component with: the factory's ``check_options``."""
        return dict(getattr(self.entry(engine).factory, "check_options", {}) or {})

    def build(self, engine: str | None = None, **options):
        """A fresh component, built through the registry so bad options fail as in config."""
        entry = self.entry(engine)
        merged = {**self.check_options(engine), **dict(self.variant), **options}
        try:
            return self.registry.create(entry.kind, entry.name, merged, section=entry.qualified_name, engine=entry.engine)
        except ConfigError as exc:
            factory = getattr(entry.factory, "__name__", "the factory")
            raise ConfigError(f"{exc}; give {factory} a check_options dict of the options checks should use") from None

    def make_engine(self, engine: str | None = None):
        """A fresh engine object for ``engine`` (the subject's only engine by default)."""
        name = engine or self.entry().engine
        return self.registry.create("engine", name, {}, section="engine")


def collect_subjects(registry: Registry) -> list[Subject]:
    """Every subject: single-engine components (each followed by its variants), then
    cross-engine names (a variant spans the engines whose factories list it), then
    optimizers, schedules and datasets."""
    single, spanning = [], []
    for kind in COMPONENT_KINDS:
        by_name: dict[str, list[Entry]] = defaultdict(list)
        for entry in registry.entries(kind):
            single.append(Subject(kind, entry.name, (entry,), registry))
            single.extend(Subject(kind, entry.name, (entry,), registry, v) for v in check_variants(entry))
            by_name[entry.name].append(entry)
        for name, entries in sorted(by_name.items()):
            ordered = sorted(entries, key=lambda e: e.engine or "")
            if len(ordered) >= 2:
                spanning.append(Subject(kind, name, tuple(ordered), registry))
            spanning.extend(Subject(kind, name, tuple(es), registry, v) for v, es in _shared_variants(ordered) if len(es) >= 2)
    whole = [Subject(kind, e.name, (e,), registry) for kind in WHOLE_KINDS for e in registry.entries(kind)]
    return single + spanning + whole


def _shared_variants(entries: list[Entry]) -> list[tuple[tuple, list[Entry]]]:
    """Each distinct variant with the entries (engines) whose factories list it."""
    groups: list[tuple[tuple, list[Entry]]] = []
    for entry in entries:
        for variant in check_variants(entry):
            group = next((g for g in groups if g[0] == variant), None)
            if group is None:
                groups.append((variant, [entry]))
            else:
                group[1].append(entry)
    return groups


def check_variants(entry: Entry) -> list[tuple[tuple[str, Any], ...]]:
    """The factory's ``check_variants`` as hashable option tuples; a malformed list is a
    one-line :class:`PluginError` naming the plugin and the component."""
    variants = getattr(entry.factory, "check_variants", None)
    if variants is None:
        return []
    where = f"plugin {entry.plugin!r}: {entry.kind} {entry.qualified_name!r} has check_variants"
    if not isinstance(variants, (list, tuple)):
        raise PluginError(f"{where} {variants!r}; it must be a list of option dicts")
    found = []
    for variant in variants:
        if not isinstance(variant, dict) or not variant or not all(isinstance(k, str) for k in variant):
            raise PluginError(f"{where} entry {variant!r}; each must be a non-empty dict of options")
        found.append(tuple(sorted(variant.items())))
    return found


# -------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One checker applied to one subject."""

    subject: Subject
    checker_name: str
    checker_plugin: str
    make_checker: Callable = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        """``backprop:dense-central_difference``: the pytest id and the table's row key."""
        return f"{self.subject.label}-{self.checker_name}"

    def run(self) -> CaseReport:
        return CaseReport(self, _run_checker(self))


def _applies(checker, subject: Subject) -> bool:
    applies_to = getattr(checker, "applies_to", None)
    if applies_to is not None:
        return bool(applies_to(subject))
    return subject.kind in COMPONENT_KINDS and len(subject.engines) == 1


def _run_checker(case: Case) -> list[CheckResult]:
    label, check = case.subject.label, case.checker_name
    try:
        results = list(case.make_checker().check(case.subject))
    except Exception as exc:  # a crashing component is a failed check, not a crashed suite
        return [CheckResult(label, check, "-", math.inf, 0.0, detail=_one_line(exc))]
    if not results:
        return [CheckResult(label, check, "-", math.inf, 0.0, detail="the checker returned no results")]
    wrong = [r for r in results if not isinstance(r, CheckResult)]
    if wrong:
        kind = type(wrong[0]).__name__
        return [CheckResult(label, check, "-", math.inf, 0.0, detail=f"the checker returned {kind}, not CheckResult")]
    return results


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _checkers(registry: Registry) -> list[tuple[Entry, object]]:
    return [
        (entry, registry.create("gradient_checker", entry.name, {}, section=f"gradient checker {entry.name}"))
        for entry in registry.entries("gradient_checker")
    ]


def select_cases(registry: Registry, plugin: str | None = None, checker: str | None = None) -> list[Case]:
    """The cases ``harness check`` runs, optionally restricted to one plugin or one checker.

    ``plugin`` keeps the subjects that plugin registered (a cross-engine subject counts
    when the plugin registered it for any of its engines); a plugin that provides only
    checkers is tested by running its checkers over every subject.
    """
    checkers = _checkers(registry)
    if checker is not None:
        names = [entry.name for entry, _ in checkers]
        if checker not in names:
            raise PluginError(f"unknown gradient checker {checker!r}; known: {', '.join(names) or '(none)'}")
        checkers = [(e, c) for e, c in checkers if e.name == checker]
    subjects = collect_subjects(registry)
    if plugin is not None:
        _require_loaded(registry, plugin)
        own = [s for s in subjects if plugin in s.plugins]
        own_checkers = [(e, c) for e, c in checkers if e.plugin == plugin]
        if own:
            subjects = own
        elif own_checkers:
            checkers = own_checkers
        else:
            raise PluginError(
                f"plugin {plugin!r} provides no {', '.join(CHECKED_KINDS)} or gradient checker to check"
            )
    cases = []
    for subject in subjects:
        for entry, instance in checkers:
            if _applies(instance, subject):
                factory = _factory(registry, entry)
                cases.append(Case(subject, entry.name, entry.plugin, factory))
    return cases


def _factory(registry: Registry, entry: Entry) -> Callable:
    """A fresh checker per case: no state leaks from one component's check into the next."""
    return lambda: registry.create("gradient_checker", entry.name, {}, section=f"gradient checker {entry.name}")


def _require_loaded(registry: Registry, plugin: str) -> None:
    pm = registry.pm
    if plugin in pm.infos:
        return
    if plugin in pm.failures:
        raise PluginError(f"plugin {plugin!r} failed to load: {pm.failures[plugin].error}")
    raise PluginError(f"unknown plugin {plugin!r}; loaded: {', '.join(sorted(pm.infos)) or '(none)'}")


# ------------------------------------------------------------------------ reports


@dataclass
class CaseReport:
    """The results of one case, with the worst one picked out for the summary table."""

    case: Case
    results: list[CheckResult]

    @property
    def status(self) -> str:
        if any(r.failed for r in self.results):
            return "failed"
        return "skipped" if all(r.skipped for r in self.results) else "passed"

    @property
    def worst(self) -> CheckResult:
        """Failures first, then the result nearest its tolerance; the first skip if nothing was measured."""
        measured = [r for r in self.results if not r.skipped]
        if not measured:
            return self.results[0]
        return max(measured, key=lambda r: (r.failed, _closeness(r)))

    def as_dict(self) -> dict:
        subject = self.case.subject
        worst = self.worst
        return {
            "component": subject.label, "kind": subject.kind, "name": subject.name,
            "engines": list(subject.engines), "plugins": list(subject.plugins),
            "check": self.case.checker_name, "status": self.status,
            "worst_error": worst.as_dict()["error"] if not worst.skipped else None,
            "worst_parameter": worst.parameter, "tolerance": worst.as_dict()["tolerance"],
            "results": [r.as_dict() for r in self.results],
        }


def _closeness(result: CheckResult) -> float:
    """How near the result is to its tolerance (errors of different checks share no scale)."""
    if math.isnan(result.error):
        return math.inf
    return result.error / result.tolerance if result.tolerance > 0 else math.inf


@dataclass
class SuiteReport:
    """Every case's report, in the order the cases ran, and the plugins that failed to load.

    ``failed_plugins`` is filled when the whole suite runs (no ``plugin`` given): a plugin
    that could not be imported provides nothing to check, which must not read as a pass.
    """

    cases: list[CaseReport]
    plugin: str | None = None
    failed_plugins: list[PluginFailure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No case failed, no plugin failed to load, and at least one case ran: an empty
        suite proves nothing."""
        return bool(self.cases) and not self.failed_plugins and all(c.status != "failed" for c in self.cases)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for c in self.cases for r in c.results if r.failed]

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for case in self.cases:
            counts[case.status] += 1
        return counts

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "plugin": self.plugin,
            "summary": {"cases": len(self.cases), "components": len({c.case.subject.label for c in self.cases}),
                        **self.counts(), "failed_plugins": len(self.failed_plugins)},
            "cases": [c.as_dict() for c in self.cases],
            "failures": [r.describe() for r in self.failures],
            "failed_plugins": [asdict(f) for f in self.failed_plugins],
        }


def run_suite(registry: Registry, plugin: str | None = None, checker: str | None = None) -> SuiteReport:
    """Run every case that applies; never raises for a failing component.

    Without ``plugin`` the report also names every plugin that failed to load.
    """
    failed = [] if plugin is not None else list(registry.pm.failures.values())
    return SuiteReport([case.run() for case in select_cases(registry, plugin, checker)], plugin, failed)

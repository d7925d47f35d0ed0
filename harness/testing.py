"""The conformance suite inside a plugin author's own pytest suite.

Compare scikit-learn's ``parametrize_with_checks``: one decorator turns one test
function into one test per component and check, with readable ids::

    from harness.testing import parametrize_with_checks

    @parametrize_with_checks(plugin="myplugin")
    def test_conformance(check):
        check()

``check()`` runs the case and fails the test with one line per failing parameter
(component, check, parameter, relative error, tolerance), or skips it with the reason
when the checker could not apply. The pytest plugin (:mod:`harness.pytest_plugin`)
offers the same without an import, through a marker and the ``harness_check`` argument.
"""

from __future__ import annotations

import pytest

from harness.conformance import Case, CaseReport, select_cases
from harness.plugins import get_plugin_manager, get_registry
from harness.registry import Registry


class ConformanceCheck:
    """One case, callable from a test: passes, fails with the failing results, or skips."""

    def __init__(self, case: Case):
        self.case = case

    @property
    def id(self) -> str:
        return self.case.id

    def __call__(self) -> CaseReport:
        report = self.case.run()
        if report.status == "failed":
            pytest.fail("\n".join(r.describe() for r in report.results if r.failed), pytrace=False)
        if report.status == "skipped":
            pytest.skip("; ".join(sorted({r.detail for r in report.results})))
        return report

    def __repr__(self) -> str:
        return f"ConformanceCheck({self.id})"


def conformance_checks(plugin: str | None = None, checker: str | None = None, registry: Registry | None = None) -> list[ConformanceCheck]:
    """Every case of the suite (of one plugin, of one checker), ready to call.

    The registry is built from every installed plugin, whatever ``HARNESS_LOAD_PLUGINS``
    says, so a test suite checks the same components on every machine. An unknown or
    broken plugin name raises a one-line :class:`harness.errors.PluginError` at collection.
    """
    registry = registry or get_registry(get_plugin_manager(all_installed=True))
    return [ConformanceCheck(case) for case in select_cases(registry, plugin, checker)]


def parametrize_with_checks(plugin: str | None = None, *, checker: str | None = None, argname: str = "check"):
    """A ``pytest.mark.parametrize`` giving ``argname`` one :class:`ConformanceCheck` per case."""
    checks = conformance_checks(plugin, checker)
    return pytest.mark.parametrize(argname, checks, ids=[c.id for c in checks])

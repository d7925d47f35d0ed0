"""``harness check``: the conformance suite over every registered component.

One row per component and check with the worst error found and where; the failing
parameters listed with their errors below the table, and every plugin that failed to
load; exit status 1 when any check failed or (checking everything) any plugin failed to
load. ``--json`` prints the same report for machines, ``--plugin NAME`` checks only
what one plugin provides, ``--checker NAME`` runs one checker.
"""

from __future__ import annotations

import json

from harness.conformance import CaseReport, SuiteReport, run_suite
from harness.plugins import get_plugin_manager, get_registry

COLUMNS = ("component", "kind", "plugin", "check", "worst error", "at", "tolerance", "result")


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "check",
        help="run the conformance suite (gradients, resume, optimizers, schedules, datasets) on every component",
        description="Run every registered checker on every registered layer, activation, loss, optimizer, "
                    "schedule and dataset.",
    )
    parser.add_argument("--plugin", metavar="NAME", help="check only what this plugin provides (its entry-point name)")
    parser.add_argument("--checker", metavar="NAME", help="run only this checker (e.g. central_difference)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def check(plugin: str | None = None, checker: str | None = None) -> SuiteReport:
    """The suite over the installed plugins (``HARNESS_LOAD_PLUGINS`` respected)."""
    return run_suite(get_registry(get_plugin_manager()), plugin=plugin, checker=checker)


def run(args) -> int:
    report = check(args.plugin, args.checker)
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    return 0 if report.passed else 1


def render(report: SuiteReport) -> str:
    """The plain-text table, the failures in full, and a one-line summary."""
    not_loaded = _failed_plugins(report)
    if not report.cases:
        return "\n".join(["no checks ran: no gradient checker is registered (is HARNESS_LOAD_PLUGINS leaving out gradcheck?)",
                          *not_loaded])
    rows = [_row(case) for case in report.cases]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(COLUMNS)]
    lines = [_line(COLUMNS, widths), _line(["-" * w for w in widths], widths)]
    lines += [_line(row, widths) for row in rows]
    skipped = [r for case in report.cases for r in case.results if r.skipped]
    if skipped:
        lines += ["", "skipped:"] + [f"  {r.describe()}" for r in skipped]
    if report.failures:
        lines += ["", "FAILED:"] + [f"  {r.describe()}" for r in report.failures]
    if not_loaded:
        lines += [""] + not_loaded
    counts = report.counts()
    components = len({case.case.subject.label for case in report.cases})
    scope = f" of plugin {report.plugin!r}" if report.plugin else ""
    verdict = "all passed" if report.passed else "FAILED"
    unloaded = f"; {_plural(len(report.failed_plugins), 'plugin')} failed to load" if report.failed_plugins else ""
    lines += ["", f"{_plural(len(report.cases), 'check')} on {_plural(components, 'component')}{scope}: {counts['passed']} passed, "
                  f"{counts['failed']} failed, {counts['skipped']} skipped{unloaded} ({verdict})"]
    return "\n".join(lines)


def _failed_plugins(report: SuiteReport) -> list[str]:
    """The section naming plugins that failed to import: their components went unchecked."""
    if not report.failed_plugins:
        return []
    return ["FAILED TO LOAD (nothing of theirs was checked):"] + [f"  {f.describe()}" for f in report.failed_plugins]


PASS_FAIL = "violations"  # a contract check's measure: each aspect holds or it does not


def _row(case: CaseReport) -> list[str]:
    subject, worst = case.case.subject, case.worst
    measured = case.status != "skipped"
    verdict = {"passed": "ok", "failed": "FAILED", "skipped": "skipped"}[case.status]
    head = [subject.label, subject.kind, ",".join(subject.plugins), case.case.checker_name]
    if worst.measure == PASS_FAIL:  # no number to show: which aspects held, or the first that did not
        aspects = [r.parameter for r in case.results if not r.skipped]
        where = worst.parameter if case.status == "failed" else f"all {len(aspects)} aspects"
        return [*head, "-", where if measured else "-", "-", verdict]
    return [*head, f"{worst.error:.2e}" if measured else "-", worst.parameter if measured else "-",
            f"{worst.tolerance:.0e}", verdict]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _line(cells, widths) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

"""Helpers for a plugin author's own tests: the conformance suite, and tiny real runs.

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

:func:`compose` and :func:`train` run the experiment ``harness-train`` would, in-process:
``train(["data=blobs", "optimizer=myopt"], plugins=[my_plugin_module])``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.conformance import Case, CaseReport, select_cases
from harness.plugins import PluginManager, activated, get_plugin_manager, get_registry, load_plugins
from harness.registry import Registry
from harness.resources import config_dir
from harness.training.experiment import Outcome  # noqa: E402  (re-exported: what train() returns)

__all__ = ["QUIET", "ConformanceCheck", "Outcome", "compose", "conformance_checks", "parametrize_with_checks",
           "plugin_manager_with", "plugin_name", "train"]

# Overrides that keep a test run quiet and local: no tracking store, no progress bar,
# no plots (each is one more override away).
QUIET = ("tracking=none", "progress=never", "reports.plots=false", "diagnostics.enabled=false")


class ConformanceCheck:
    """One case, callable from a test: passes, fails with the failing results, or skips."""

    def __init__(self, case: Case):
        self.case = case

    @property
    def id(self) -> str:
        return self.case.id

    def __call__(self) -> CaseReport:
        import pytest

        report = self.case.run()
        if report.status == "failed":
            pytest.fail("\n".join(r.describe() for r in report.results if r.failed), pytrace=False)
        if report.status == "skipped":
            pytest.skip("; ".join(sorted({r.detail for r in report.results})))
        return report

    def __repr__(self) -> str:
        return f"ConformanceCheck({self.id})"


def conformance_checks(plugin: str | None = None, checker: str | None = None, registry: Registry | None = None,
                       plugins: Sequence[object] = ()) -> list[ConformanceCheck]:
    """Every case of the suite (of one plugin, of one checker), ready to call.

    The registry is built from every installed plugin, whatever ``HARNESS_LOAD_PLUGINS``
    says, so a test suite checks the same components on every machine, plus ``plugins``
    (see :func:`plugin_manager_with`: a plugin not installed yet is checked under its
    package's name). An unknown or broken plugin name raises a one-line
    :class:`harness.PluginError` at collection.
    """
    if registry is None:
        registry = get_registry(plugin_manager_with(plugins) if plugins else get_plugin_manager(all_installed=True))
    return [ConformanceCheck(case) for case in select_cases(registry, plugin, checker)]


def parametrize_with_checks(plugin: str | None = None, *, checker: str | None = None, argname: str = "check",
                            plugins: Sequence[object] = ()) -> Any:
    """A ``pytest.mark.parametrize`` giving ``argname`` one :class:`ConformanceCheck` per case."""
    import pytest

    checks = conformance_checks(plugin, checker, plugins=plugins)
    return pytest.mark.parametrize(argname, checks, ids=[c.id for c in checks])


def compose(overrides: Sequence[str] = (), *, output_dir: str | Path | None = None, plugins: Sequence[object] = ()) -> Any:
    """The config ``harness-train OVERRIDES`` would run (a ``DictConfig``), writing into
    ``output_dir`` (a fresh temporary folder by default) and keeping any tracking store there.

    Config options come from the installed plugins' config directories and those of
    ``plugins`` (see :func:`train`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    folder = Path(output_dir) if output_dir is not None else _temporary_folder()
    pm = plugin_manager_with(plugins) if plugins else get_plugin_manager()
    with activated(pm), initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="harness-test"):
        return hydra_compose("config", overrides=[f"paths.project_dir={folder}", f"paths.output_dir={folder}", *overrides])


def _temporary_folder() -> Path:
    """A fresh folder for a test's run, removed when the process exits (pass
    ``output_dir`` to keep what the run writes)."""
    folder = Path(tempfile.mkdtemp(prefix="harness-test-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def plugin_name(plugin: object, index: int = 0) -> str:
    """The name a plugin registered by hand goes by: its top-level package's name for a
    module (``tryout`` for ``tryout.plugin``, as its entry point would likely be called),
    the class name for an object."""
    module = getattr(plugin, "__name__", None)
    if isinstance(module, str):
        return module.split(".")[0]
    return f"{type(plugin).__name__.lower()}-{index}"


def plugin_manager_with(plugins: Sequence[object] = ()) -> PluginManager:
    """Every installed plugin plus ``plugins`` (modules or objects with ``@hookimpl``
    methods), so a plugin is tested before it is installed (see :func:`plugin_name`)."""
    pm = load_plugins(use_env=False)
    for index, plugin in enumerate(plugins):
        if not pm.is_registered(plugin) and not pm.has_plugin(plugin_name(plugin, index)):  # installed: loaded already
            pm.register_plugin(plugin, plugin_name(plugin, index), "(registered by harness.testing)")
    return pm


def train(overrides: Sequence[str] = (), *, plugins: Sequence[object] = (), output_dir: str | Path | None = None,
          quiet: bool = True) -> Any:
    """Train the experiment ``harness-train OVERRIDES`` describes, in this process, and
    return its :class:`Outcome` (``.run``, ``.result``, ``.model``).

    ``plugins`` are registered next to the installed ones (a module or an object with
    ``@hookimpl`` methods), so a plugin is tested before it is installed; ``quiet`` adds
    :data:`QUIET` first (your overrides still win)."""
    from harness.training.experiment import run_experiment

    pm = plugin_manager_with(plugins)
    with activated(pm):
        cfg = compose([*(QUIET if quiet else ()), *overrides], output_dir=output_dir)
        return run_experiment(cfg, pm=pm)

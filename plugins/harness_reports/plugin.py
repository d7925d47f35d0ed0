"""Plots and tables: a finished run's plots, and comparisons of runs.

* ``harness_run_artifacts``: learning curves, confusion matrix and misclassified test
  images of a finished run, written into its folder and returned, so whatever tracks the
  run uploads them;
* ``harness_compare_runs``: ``comparison.png`` (one curve per run, per epoch and against
  training time) and ``comparison.csv`` / ``.md`` (best first), at the end of a sweep
  and for ``harness compare``.

Configured by the ``reports`` section (this plugin's config group ``conf/reports/``):
``plots`` (on by default) and ``misclassified`` (how many test images in the grid).
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path

import numpy as np

from harness import ConfigError, RunInfo, RunRecord, RunResult, Splits, hookimpl
from harness import validation as v

log = logging.getLogger("harness.reports")
SECTION = "reports"
OPTIONS = ("plots", "misclassified")


def _options(config) -> dict:
    options = config.section(SECTION)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"reports: unknown option {', '.join(map(repr, unknown))}; accepted: {', '.join(OPTIONS)}")
    return {
        "plots": v.boolean("reports.plots", options.get("plots", True)),
        "misclassified": v.integer("reports.misclassified", options.get("misclassified", 36), low=0, high=400),
    }


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")


@hookimpl
def harness_validate_config(config):
    _options(config)


@hookimpl
def harness_run_artifacts(run: RunInfo, result: RunResult) -> list[Path]:
    options = _options(run.config)
    if result.status != "FINISHED" or not options["plots"] or not result.history:
        return []
    return _draw(run, result, options)


def _draw(run: RunInfo, result: RunResult, options: dict) -> list[Path]:
    from harness_reports import plots

    folder = run.output_dir / "plots"
    made = [plots.learning_curves(result.history, folder / "learning_curves.png", title=run.name)]
    data = _test_split(run)
    predictions = result.test_predictions
    if predictions is not None and data is not None:
        test_x, test_y = data
        classes = int(max(test_y.max(), predictions.max()) + 1)
        made.append(plots.confusion_matrix(test_y, predictions, classes, folder / "confusion_matrix.png", title=run.name))
        if test_x.shape[1] == 28 * 28 and options["misclassified"]:
            grid = plots.misclassified_grid(test_x, test_y, predictions, folder / "misclassified.png",
                                            count=options["misclassified"])
            if grid is not None:
                made.append(grid)
    log.info("plots written to %s", folder)
    return made


# The test split of each run in progress: the confusion matrix needs its labels, the grid
# its images. Keyed by the run, so it goes when the run does.
_test_data: weakref.WeakKeyDictionary[RunInfo, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()


@hookimpl
def harness_run_start(run: RunInfo, data: Splits) -> None:
    _test_data[run] = (data.test_x, data.test_y)


def _test_split(run: RunInfo) -> tuple[np.ndarray, np.ndarray] | None:
    return _test_data.pop(run, None)


@hookimpl
def harness_run_end(run: RunInfo) -> None:
    _test_data.pop(run, None)


@hookimpl
def harness_compare_runs(runs: list[RunRecord], folder: Path, title: str, metric: str) -> list[Path]:
    from harness_reports import plots, tables

    shown = [r for r in runs if r.history]
    made = []
    if shown:
        curves = sorted((r.name, r.history) for r in shown)
        made.append(plots.compare_curves(curves, folder / "comparison.png", metric=metric,
                                         title=title))
    made += tables.write_tables([tables.row_for(r) for r in runs], folder)
    return made

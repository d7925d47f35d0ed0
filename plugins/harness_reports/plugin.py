"""Draws a finished run's plots into its output folder and lists them in ``run.artifacts``.

Runs first among the run-end hooks (``tryfirst``), so a tracking plugin that uploads
``run.artifacts`` at run end finds them. Configured by the ``reports`` section:
``plots`` (on by default) and ``misclassified`` (how many test images in the grid).
"""

from __future__ import annotations

import logging

from harness import hookimpl
from harness import validation as v
from harness.errors import ConfigError

log = logging.getLogger("harness.reports")


def _options(config) -> dict:
    options = config.section("reports")
    unknown = sorted(set(options) - {"plots", "misclassified"})
    if unknown:
        raise ConfigError(f"reports: unknown option {', '.join(map(repr, unknown))}; accepted: plots, misclassified")
    return {
        "plots": v.boolean("reports.plots", options.get("plots", True)),
        "misclassified": v.integer("reports.misclassified", options.get("misclassified", 36), low=0, high=400),
    }


@hookimpl
def harness_validate_config(config):
    _options(config)


@hookimpl(tryfirst=True)
def harness_run_end(run, status, error):
    options = _options(run.config)
    if status != "FINISHED" or not options["plots"] or not run.history:
        return
    try:
        run.artifacts.extend(_draw(run, options))
    except Exception as exc:  # a plot that cannot be drawn or written must not fail the run
        log.error("could not write the run's plots: %s: %s", type(exc).__name__, exc)


def _draw(run, options: dict) -> list:
    from harness_reports import plots

    folder = run.output_dir / "plots"
    made = [plots.learning_curves(run.history, folder / "learning_curves.png", title=run.name)]
    predictions = run.state.get("test_predictions")
    splits = run.splits
    if predictions is not None and splits is not None:
        classes = int(max(splits.test_y.max(), predictions.max()) + 1)
        made.append(plots.confusion_matrix(splits.test_y, predictions, classes, folder / "confusion_matrix.png", title=run.name))
        if splits.test_x.shape[1] == 28 * 28 and options["misclassified"]:
            grid = plots.misclassified_grid(
                splits.test_x, splits.test_y, predictions, folder / "misclassified.png", count=options["misclassified"],
            )
            if grid is not None:
                made.append(grid)
    log.info("plots written to %s", folder)
    return made

"""Draws a finished run's plots into its output folder and lists them in ``run.artifacts``.

Runs first among the run-end hooks (``tryfirst``), so a tracking plugin that uploads
``run.artifacts`` at run end finds them. Configured by the ``reports`` section:
``plots`` (on by default) and ``misclassified`` (how many test images in the grid).
"""

from __future__ import annotations

import logging

from harness import hookimpl

log = logging.getLogger("harness.reports")


@hookimpl(tryfirst=True)
def harness_run_end(run, status, error):
    options = run.config.section("reports")
    if status != "FINISHED" or not options.get("plots", True) or not run.history:
        return
    from harness_reports import plots

    folder = run.output_dir / "plots"
    made = [plots.learning_curves(run.history, folder / "learning_curves.png", title=run.name)]
    predictions = run.state.get("test_predictions")
    splits = run.splits
    if predictions is not None and splits is not None:
        classes = int(max(splits.test_y.max(), predictions.max()) + 1)
        made.append(plots.confusion_matrix(splits.test_y, predictions, classes, folder / "confusion_matrix.png", title=run.name))
        if splits.test_x.shape[1] == 28 * 28:
            grid = plots.misclassified_grid(
                splits.test_x, splits.test_y, predictions, folder / "misclassified.png",
                count=int(options.get("misclassified", 36)),
            )
            if grid is not None:
                made.append(grid)
    run.artifacts.extend(made)
    log.info("plots written to %s", folder)

"""The diagnostics summary drawn when a sweep ends (``diagnostics.summary: true``).

Called from the ``harness_sweep_end`` hook in the launching process after the last job:
reads the sweep's parent run from the file the MLflow plugin leaves in the sweep folder
(the summary compares runs recorded in MLflow), draws ``diagnostics_summary.png`` there
and attaches it to the parent run, before the MLflow plugin closes it (its hook runs
last). A failure is logged, never raised: the sweep's own outcome matters more than its
picture.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("harness.diagnostics")
SUMMARY_FILE = "diagnostics_summary.png"


def summarize_sweep(config: DictConfig) -> None:
    """Summary figure of a sweep's runs, attached to its parent MLflow run."""
    if not OmegaConf.select(config, "diagnostics.summary", default=False):
        return
    try:
        _summarize(config)
    except Exception as exc:
        log.error("could not draw the diagnostics summary (%s: %s)", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")


def _summarize(config: DictConfig) -> None:
    from mlflow.tracking import MlflowClient

    from harness_diagnostics.summary import summarize, table
    from harness_mlflow.sweep import read_sweep_file

    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep = read_sweep_file(sweep_dir)
    if sweep is None:
        log.warning("no diagnostics summary: the sweep has no parent MLflow run (tracking=mlflow records one)")
        return
    client = MlflowClient(tracking_uri=sweep["uri"])
    experiment = client.get_experiment(sweep["experiment_id"]).name
    path, rows, parent_id = summarize(client, experiment, sweep_dir / SUMMARY_FILE, sweep["parent_run_id"])
    client.log_artifact(parent_id, str(path), "diagnostics")
    log.info("diagnostics summary of %d runs:\n%s", len(rows), table(rows))
    log.info("diagnostics summary plot: %s (attached to sweep run %s)", path, parent_id)

"""A Hydra callback that draws the diagnostics summary when a sweep ends.

The vanishing preset adds it to ``hydra.callbacks``. It runs in the launching process
after the last job, reads the sweep's parent run from the file the MLflow sweep callback
leaves in the sweep folder, draws ``diagnostics_summary.png`` there and attaches it to
the parent run. Hydra ends callbacks in reverse order, so this one (added by the preset,
after the tracking config's) runs before the parent run is closed. A failure is logged,
never raised: the sweep's own outcome matters more than its picture.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("harness.diagnostics")
SUMMARY_FILE = "diagnostics_summary.png"


class DiagnosticsSummary(Callback):
    """Summary figure of a sweep's runs, attached to its parent MLflow run."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        try:
            self._summarize(config)
        except Exception as exc:
            log.error("could not draw the diagnostics summary (%s: %s)", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")

    def _summarize(self, config: DictConfig) -> None:
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

"""``harness-train``: compose an experiment with Hydra and train it.

``harness-train`` trains the default experiment; ``harness-train gd=sgd
optimizer.lr=0.01`` changes it; ``harness-train -m optimizer.lr=0.01,0.1`` sweeps.
Errors the user can fix are printed as one line (no traceback). In a sweep a failing
job is reported and the next job still runs.
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.errors import HarnessError
from harness.resources import config_dir
from harness.training.experiment import run_experiment

log = logging.getLogger("harness")


def run_name_from_overrides() -> str | None:
    """``gd=sgd optimizer.lr=0.1``: what makes this job different, readable in the UI."""
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("hydra.")]
    return " ".join(overrides) or None


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def app(cfg: DictConfig) -> float:
    try:
        run = run_experiment(cfg, run_name=run_name_from_overrides())
    except HarnessError as exc:
        print(f"harness-train: error: {exc}", file=sys.stderr)
        if HydraConfig.get().mode == RunMode.RUN:
            sys.exit(exc.exit_code)
        raise
    return run.summary["test_accuracy"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()

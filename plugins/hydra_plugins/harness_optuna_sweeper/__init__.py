"""``hydra/sweeper=harness_optuna``: an Optuna study as a Hydra sweeper.

Hydra's own Optuna sweeper (``hydra-optuna-sweeper`` 1.3.0) pins ``optuna<3``; this one
drives Optuna's ask/tell API from the launching process, so any launcher (basic, joblib,
submitit) runs the trials and every trial is an ordinary job of the sweep: with
``tracking=mlflow`` a child of the sweep's parent run. Hydra imports every module of the
``hydra_plugins`` namespace at start-up, so nothing here imports Optuna at module level:
without the ``optuna`` extra only selecting this sweeper fails, with one line.
"""

from hydra_plugins.harness_optuna_sweeper.config import HarnessOptunaSweeperConf
from hydra_plugins.harness_optuna_sweeper.sweeper import HarnessOptunaSweeper

__all__ = ["HarnessOptunaSweeper", "HarnessOptunaSweeperConf"]

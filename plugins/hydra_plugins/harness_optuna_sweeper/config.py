"""The sweeper's options, registered as ``hydra/sweeper=harness_optuna``."""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class HarnessOptunaSweeperConf:
    _target_: str = "hydra_plugins.harness_optuna_sweeper.sweeper.HarnessOptunaSweeper"
    # Trials the study should hold in total: a re-run of a study that stopped early runs
    # only the missing ones (trials killed with their sweep are run again).
    n_trials: int = 20
    # Trials asked for and launched together (a parallel launcher runs them at once).
    n_jobs: int = 1
    direction: str = "maximize"
    # The key of the job's returned summary to optimise: validation, never test.
    metric: str = "best_val_accuracy"
    # null: "<name>-<hash of the search space and fixed overrides>", so the same command
    # resumes the same study and a different one starts its own.
    study_name: str | None = None
    # An Optuna storage URL; null: sqlite:///<launch dir>/optuna.db. "memory": not kept.
    storage: str | None = None
    # TPE sampler: seed (reproducible proposals) and random trials before TPE takes over.
    seed: int | None = 0
    n_startup_trials: int = 10
    # The search space, in Hydra's override grammar:
    #   tag(log, interval(1e-3, 1)), interval(0.5, 0.99), choice(32, 64, 128), range(1, 5)
    params: Any = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="harness_optuna", node=HarnessOptunaSweeperConf,
                             provider="harness")

"""The Hydra Sweeper: checks its options, builds the launcher, hands over to the study."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from harness import ConfigError

DIRECTIONS = ("maximize", "minimize")


class HarnessOptunaSweeper(Sweeper):
    """Runs ``n_trials`` trials of an Optuna study, ``n_jobs`` at a time, through the launcher."""

    def __init__(self, n_trials: int, n_jobs: int, direction: str, metric: str, study_name: str | None,
                 storage: str | None, seed: int | None, n_startup_trials: int, params: Any) -> None:
        super().__init__()
        for key, value, low in (("n_trials", n_trials, 1), ("n_jobs", n_jobs, 1), ("n_startup_trials", n_startup_trials, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"hydra.sweeper.{key} must be an integer >= {low}, got {value!r}")
        if direction not in DIRECTIONS:
            raise ConfigError(f"hydra.sweeper.direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"hydra.sweeper.metric must name a summary metric such as best_val_accuracy, got {metric!r}")
        self.n_trials, self.n_jobs, self.direction, self.metric = n_trials, n_jobs, direction, metric
        self.study_name, self.storage, self.seed, self.n_startup_trials = study_name, storage, seed, n_startup_trials
        if isinstance(params, DictConfig):
            params = OmegaConf.to_container(params, resolve=False)
        self.params = {str(k): str(v) for k, v in (params or {}).items()}
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from hydra_plugins.harness_basic_sweeper.compose import sharing_templates

        # Trials differ in values, not in config files: each composed from one template.
        hydra_context = sharing_templates(hydra_context)
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config,
        )

    def sweep(self, arguments: list[str]) -> Any:
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise ConfigError("hydra/sweeper=harness_optuna needs Optuna: pip install 'harness-backprop[optuna]'") from None
        from hydra_plugins.harness_optuna_sweeper._study import run_study

        return run_study(self, arguments)

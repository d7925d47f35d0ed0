"""``hydra/sweeper=basic``, composing each set of config-group choices once.

Hydra's basic sweeper (cartesian products, ``range``, ``max_batch_size``,
``hydra.sweeper.params``) with one change: its up-front validation of each batch and its
launcher compose jobs through :class:`~hydra_plugins.harness_basic_sweeper.compose.ComposeOnce`, so a sweep of values
(``seed=range(64)``, ``optimizer.lr=0.01,0.1``) reads the config files once per distinct
set of choices instead of twice per job.

It is registered under Hydra's own name, ``basic``, so it is what ``-m`` uses, and an
experiment that selects another sweeper in its defaults list (``override
/hydra/sweeper: harness_optuna``) still can: a primary config's ``override`` of
``hydra/sweeper`` would win over the experiment's. This module imports Hydra's sweeper
first, so this registration always replaces Hydra's. Hydra's own class stays one override
away: ``hydra.sweeper._target_=hydra._internal.core_plugins.basic_sweeper.BasicSweeper``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.harness_basic_sweeper.compose import sharing_templates


@dataclass
class HarnessBasicSweeperConf:
    _target_: str = "hydra_plugins.harness_basic_sweeper.sweeper.HarnessBasicSweeper"
    # Jobs launched together (null: the whole sweep in one batch), as in Hydra's basic sweeper.
    max_batch_size: int | None = None
    # Sweep overrides kept in the config, e.g. {seed: range(4)}, as in Hydra's basic sweeper.
    params: dict[str, str] | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="basic", node=HarnessBasicSweeperConf,
                             provider="harness")


class HarnessBasicSweeper(BasicSweeper):
    """Hydra's basic sweeper whose launcher composes jobs through
    :class:`~hydra_plugins.harness_basic_sweeper.compose.ComposeOnce`."""

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=sharing_templates(hydra_context), task_function=task_function, config=config)

"""``hydra/sweeper=basic`` (the default): Hydra's basic sweeper, composing each job's config
from a template shared by every job with the same config-group choices."""

from hydra_plugins.harness_basic_sweeper.compose import ComposeOnce
from hydra_plugins.harness_basic_sweeper.sweeper import HarnessBasicSweeper, HarnessBasicSweeperConf

__all__ = ["ComposeOnce", "HarnessBasicSweeper", "HarnessBasicSweeperConf"]

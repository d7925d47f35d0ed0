"""Hydra finds its plugins by importing every module of the ``hydra_plugins`` namespace.

This one hands it :class:`harness.config_search.PluginConfigSearchPath`, which adds the
configuration directories harness plugins register to harness's search path.
"""

from harness.config_search import PluginConfigSearchPath

__all__ = ["PluginConfigSearchPath"]

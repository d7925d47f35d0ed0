"""harness: a plugin-based experiment harness for backpropagation written from scratch.

Plugins implement the hooks declared in :mod:`harness.hookspecs`, marked with
:data:`hookimpl`, and are found through the ``harness`` entry-point group.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

hookimpl = pluggy.HookimplMarker("harness")

try:
    __version__ = version("harness")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["hookimpl", "__version__"]

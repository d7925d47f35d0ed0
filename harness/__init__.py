"""harness: a plugin-based experiment harness for backpropagation written from scratch.

Plugins implement the hooks declared in :mod:`harness.hookspecs`, marked with
:data:`hookimpl`, and are found through the ``harness`` entry-point group.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

hookimpl = pluggy.HookimplMarker("harness")
# The distribution on the package index ("harness" there is an unrelated project); the
# import package and the commands keep the name harness.
DISTRIBUTION = "backprop-harness"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["hookimpl", "__version__", "DISTRIBUTION"]

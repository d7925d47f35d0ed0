"""Gradient checkers: analytical gradients compared with numerical ones.

A checker returns :class:`CheckResult` records, one per parameter (and one for the
input), so that a command, a test or a plugin author's own suite can all read them.
"""

from harness_gradcheck.central import CentralDifference, relative_error
from harness_gradcheck.results import CheckResult

__all__ = ["CentralDifference", "CheckResult", "relative_error"]

"""The structured outcome of one gradient comparison.

The record is defined by the core (:class:`harness.conformance.CheckResult`) so that
``harness check``, the pytest plugin and third-party checkers share one type; it is
re-exported here because checkers and their users import it from this package.
"""

from harness import CheckResult

__all__ = ["CheckResult"]

"""Registers the gradient checkers."""

from harness import hookimpl
from harness_gradcheck.central import CentralDifference


@hookimpl
def harness_register_gradient_checkers(register):
    register(CentralDifference.name, CentralDifference)

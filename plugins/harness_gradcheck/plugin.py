"""Registers the gradient checkers ``harness check`` runs on every component."""

from harness import hookimpl
from harness_gradcheck.central import CentralDifference
from harness_gradcheck.complex_step import ComplexStep
from harness_gradcheck.cross_engine import CrossEngine
from harness_gradcheck.jvp_vjp import JvpVjp
from harness_gradcheck.optimizer_check import OptimizerQuadratic


@hookimpl
def harness_register_gradient_checkers(register):
    for checker in (CentralDifference, ComplexStep, CrossEngine, JvpVjp, OptimizerQuadratic):
        register(checker.name, checker)

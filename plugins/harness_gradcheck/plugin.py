"""Registers the checkers ``harness check`` runs: gradients, resume, optimizers, schedules, datasets."""

from harness import hookimpl
from harness_gradcheck.central import CentralDifference
from harness_gradcheck.complex_step import ComplexStep
from harness_gradcheck.cross_engine import CrossEngine
from harness_gradcheck.dataset_check import DatasetContract
from harness_gradcheck.jvp_vjp import JvpVjp
from harness_gradcheck.optimizer_check import OptimizerQuadratic
from harness_gradcheck.resume_check import ResumeCheck
from harness_gradcheck.schedule_check import ScheduleContract


@hookimpl
def harness_register_gradient_checkers(register):
    for checker in (CentralDifference, ComplexStep, CrossEngine, JvpVjp, ResumeCheck, OptimizerQuadratic, ScheduleContract,
                    DatasetContract):
        register(checker.name, checker)

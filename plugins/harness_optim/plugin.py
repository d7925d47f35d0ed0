"""Registers the optimizers and schedules."""

from harness import hookimpl
from harness_optim.optimizers import SGD, Adam, Momentum, Nesterov
from harness_optim.schedules import Constant, Cosine, StepDecay


@hookimpl
def harness_register_optimizers(register):
    for cls in (SGD, Momentum, Nesterov, Adam):
        register(cls.kind, cls)


@hookimpl
def harness_register_schedules(register):
    for cls in (Constant, StepDecay, Cosine):
        register(cls.kind, cls)

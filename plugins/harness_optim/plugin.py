"""Registers the optimizers and schedules."""

from pathlib import Path

from harness import hookimpl
from harness import ConfigError
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


@hookimpl
def harness_validate_config(config):
    """A cosine schedule decays from the optimizer's rate to ``min_lr``, never up."""
    schedule, optimizer = config.schedule, config.optimizer
    if schedule.get("name") == Cosine.kind and isinstance(optimizer.get("lr"), (int, float)):
        min_lr = schedule.get("min_lr", 0.0)
        if isinstance(min_lr, (int, float)) and min_lr > optimizer["lr"]:
            raise ConfigError(f"schedule.min_lr must be <= optimizer.lr ({optimizer['lr']:g}) so the rate decays, got {min_lr:g}")


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")

"""Registers the optimizers and schedules."""

from pathlib import Path

from harness import ConfigError, hookimpl
from harness_optim import averaging
from harness_optim.optimizers import SGD, Adam, Momentum, Nesterov
from harness_optim.random_search import RandomSearch
from harness_optim.schedules import Constant, Cosine, StepDecay
from harness_optim.schedules_cyclic import OneCycle, WarmupCosine


@hookimpl
def harness_register_optimizers(register):
    for cls in (SGD, Momentum, Nesterov, Adam):
        register(cls.kind, cls)
    register(RandomSearch.kind, RandomSearch)


@hookimpl
def harness_register_schedules(register):
    for cls in (Constant, StepDecay, Cosine, WarmupCosine, OneCycle):
        register(cls.kind, cls)


@hookimpl
def harness_validate_config(config):
    """A cosine schedule decays from the optimizer's rate to ``min_lr``, never up; the
    ``averaging`` section is well formed."""
    averaging.validate(config)
    schedule, optimizer = config.schedule, config.optimizer
    if schedule.get("name") == Cosine.kind and isinstance(optimizer.get("lr"), (int, float)):
        min_lr = schedule.get("min_lr", 0.0)
        if isinstance(min_lr, (int, float)) and min_lr > optimizer["lr"]:
            raise ConfigError(f"schedule.min_lr must be <= optimizer.lr ({optimizer['lr']:g}) so the rate decays, got {min_lr:g}")


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")


# Weight averaging (harness_optim/averaging.py) rides on the run-event hooks.


@hookimpl
def harness_register_config_sections(register):
    averaging.register_section(register)


@hookimpl
def harness_run_start(run, model, data):
    averaging.run_start(run, model, data)


@hookimpl
def harness_step_end(run, step):
    averaging.step_end(run, step)


@hookimpl
def harness_train_end(run, model, data, result):
    averaging.train_end(run, model, data, result)


@hookimpl
def harness_run_end(run):
    averaging.run_end(run)

"""Optimizers and learning-rate schedules over ``(name, value, grad)`` triples.

They work on any engine's parameters: all they see are NumPy arrays updated in place.
"""

from harness_optim.clipping import clip_by_global_norm, global_norm
from harness_optim.optimizers import SGD, Adam, Momentum, Nesterov, Optimizer
from harness_optim.schedules import Constant, Cosine, StepDecay
from harness_optim.schedules_cyclic import OneCycle, WarmupCosine

__all__ = [
    "SGD", "Adam", "Constant", "Cosine", "Momentum", "Nesterov", "OneCycle", "Optimizer",
    "StepDecay", "WarmupCosine", "clip_by_global_norm", "global_norm",
]

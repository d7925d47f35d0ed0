"""An example third-party harness plugin: two layers, an activation, an optimizer, a
schedule, a dataset, a run-event hook with its own config section, and Hydra options."""

from harness_example.activations import GELU
from harness_example.datasets import Spirals
from harness_example.layers import GaussianDropout, Maxout
from harness_example.optimizers import Lion
from harness_example.schedules import Warmup

__all__ = ["GELU", "GaussianDropout", "Lion", "Maxout", "Spirals", "Warmup"]

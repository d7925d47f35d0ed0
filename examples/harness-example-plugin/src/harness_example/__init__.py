"""An example third-party harness plugin: two layers, an activation, an optimizer, configs."""

from harness_example.activations import GELU
from harness_example.layers import GaussianDropout, Maxout
from harness_example.optimizers import Lion

__all__ = ["GELU", "GaussianDropout", "Lion", "Maxout"]

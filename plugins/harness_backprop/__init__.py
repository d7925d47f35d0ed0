"""The hand-written NumPy backpropagation engine.

Every layer caches what its forward pass computed and turns the gradient of the loss
with respect to its output into gradients for its parameters and its input, for a
whole batch at once. Nothing here knows about configs, tracking or the training loop.
"""

from harness_backprop.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from harness_backprop.layers import Dense, Dropout
from harness_backprop.losses import MeanSquaredError, SoftmaxCrossEntropy
from harness_backprop.model import BackpropEngine, SequentialModel
from harness_backprop.normalization import BatchNorm
from harness_backprop.residual import Residual

__all__ = [
    "BatchNorm", "Residual",
    "BackpropEngine", "Dense", "Dropout", "LeakyReLU", "MeanSquaredError", "ReLU",
    "SequentialModel", "Sigmoid", "SoftmaxCrossEntropy", "Tanh",
]

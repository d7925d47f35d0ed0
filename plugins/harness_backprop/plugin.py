"""Registers the backprop engine and its layers, activations and losses."""

from pathlib import Path

from harness import hookimpl
from harness_backprop.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from harness_backprop.layers import Dense, Dropout
from harness_backprop.losses import MeanSquaredError, SoftmaxCrossEntropy
from harness_backprop.model import BackpropEngine
from harness_backprop.normalization import BatchNorm
from harness_backprop.residual import Residual

ENGINE = "backprop"


@hookimpl
def harness_register_engines(register):
    register(ENGINE, BackpropEngine)


@hookimpl
def harness_register_layers(register):
    register("dense", Dense, engine=ENGINE)
    register("dropout", Dropout, engine=ENGINE)
    register(BatchNorm.kind, BatchNorm, engine=ENGINE)
    register(Residual.kind, Residual, engine=ENGINE)


@hookimpl
def harness_register_activations(register):
    for cls in (ReLU, LeakyReLU, Sigmoid, Tanh):
        register(cls.kind, cls, engine=ENGINE)


@hookimpl
def harness_register_losses(register):
    for cls in (SoftmaxCrossEntropy, MeanSquaredError):
        register(cls.kind, cls, engine=ENGINE)


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")

"""Registers the ``autograd`` (Tensor) and ``scalar`` (Value) engines and their parts."""

from pathlib import Path

from harness import hookimpl
from harness_autograd import layers, scalar_layers
from harness_autograd.engine import AutogradEngine
from harness_autograd.normalization import BatchNorm
from harness_autograd.residual import Residual
from harness_autograd.scalar_engine import ScalarEngine

PARTS = {AutogradEngine.name: layers, ScalarEngine.name: scalar_layers}
# Layers in modules of their own (they build on ``layers``), per engine.
REMEDIES = {AutogradEngine.name: (BatchNorm, Residual)}


@hookimpl
def harness_register_engines(register):
    register(AutogradEngine.name, AutogradEngine)
    register(ScalarEngine.name, ScalarEngine)


@hookimpl
def harness_register_layers(register):
    for engine, module in PARTS.items():
        for cls in (*module.LAYERS, *REMEDIES.get(engine, ())):
            register(cls.kind, cls, engine=engine)


@hookimpl
def harness_register_activations(register):
    for engine, module in PARTS.items():
        for cls in module.ACTIVATIONS:
            register(cls.kind, cls, engine=engine)


@hookimpl
def harness_register_losses(register):
    for engine, module in PARTS.items():
        for cls in module.LOSSES:
            register(cls.kind, cls, engine=engine)


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")

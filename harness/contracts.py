"""The typed contracts of every component a plugin can provide.

Each registration hook (:mod:`harness.hookspecs`) registers factories; what a factory
returns must satisfy one of these :class:`typing.Protocol` classes. The core calls
components only through these members, and ``harness check`` verifies them at run
time (gradients, descent, sanity, resume). A type checker verifies them statically
when a plugin annotates its classes.

Optional capabilities are Protocols of their own, tested with ``isinstance``: a layer
that draws random numbers is a :class:`RandomLayer` (checkpoints save its generator),
one with non-trainable state is a :class:`BufferedLayer` (checkpoints and snapshots
save its buffers), one built from inner layers is a :class:`CompositeLayer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.records import Splits

#: ``(name, value, grad)``: a parameter array, updated in place, and its gradient.
NamedParameter = tuple[str, np.ndarray, np.ndarray]


# ------------------------------------------------------------------------- layers


@runtime_checkable
class Layer(Protocol):
    """One entry of ``model.layers`` as its engine computes it.

    The factory (``factory(**options)``) validates the options and returns the layer
    unbuilt; ``build`` then creates the parameters once the input size is known.
    ``params`` and ``grads`` have the same keys; the engine writes gradients into the
    ``grads`` arrays in place, and optimizers update the ``params`` arrays in place.
    How the engine runs the layer backwards (a ``backward`` method, an autograd graph)
    is the engine's own contract, documented by the engine's plugin.
    """

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]

    def build(self, input_dim: int, rng: np.random.Generator, dtype: np.dtype) -> int:
        """Create parameters for inputs of ``input_dim`` features; return the output size.

        Draw every random number from ``rng`` (in a fixed order) so the same seed gives
        the same weights in every engine.
        """
        ...

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """The layer's output for a batch ``x`` of shape ``(m, input_dim)``."""
        ...


@runtime_checkable
class Reseedable(Protocol):
    """A layer whose random draws a gradient check can replay: ``reseed(seed)`` twice
    gives the same draws twice (dropout, and composites holding such layers)."""

    def reseed(self, seed: int) -> None: ...


@runtime_checkable
class RandomLayer(Reseedable, Protocol):
    """A layer that draws random numbers while training (dropout).

    Its generator is saved in checkpoints, so a resumed run draws the same masks.
    """

    rng: np.random.Generator


@runtime_checkable
class BufferedLayer(Protocol):
    """A layer with state that is not trained but is part of the model (batch-norm
    running statistics): saved in checkpoints, snapshots and exported models."""

    buffers: dict[str, np.ndarray]


@runtime_checkable
class CompositeLayer(Protocol):
    """A layer built from inner layers (a residual block): checkpoints walk ``layers``
    for their generators and buffers."""

    layers: list[Any]


@runtime_checkable
class Loss(Protocol):
    """A loss as its engine computes it: opaque to the core.

    The core never calls a loss; the engine does, and answers gradient checks about it
    through :meth:`Engine.loss_forward` / :meth:`Engine.loss_gradient`. Labels are
    integer class indices; the loss is the mean over the batch.
    """


# ------------------------------------------------------------------------- models


@runtime_checkable
class Model(Protocol):
    """What an engine builds from layer objects and a loss; what the training loop runs."""

    layers: list[Any]
    layer_names: list[str]   # one per layer, by :func:`harness.kit.layer_name`
    output_dim: int

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward in training mode, loss, backward: ``(mean loss, outputs)``; gradients
        are left in the arrays :meth:`named_parameters` returns."""
        ...

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward in evaluation mode and loss, no gradients: ``(mean loss, outputs)``."""
        ...

    def named_parameters(self) -> list[NamedParameter]:
        """Every parameter as ``(name, value, grad)``, the same arrays on every call."""
        ...


@runtime_checkable
class Engine(Protocol):
    """Turns layer and loss objects into a model, and answers gradient checks.

    The ``layer_*`` / ``loss_*`` methods are the engine's side of ``harness check``: a
    checker asks for forward values and analytical gradients of one built component and
    never needs to know how the engine computes them.
    """

    name: str

    def build_model(self, layers: list[Any], loss: Any, *, input_dim: int, rng: np.random.Generator,
                    dtype: np.dtype) -> Model:
        """Build every layer in order (:func:`harness.kit.build_stack`) and wire them."""
        ...

    def layer_forward(self, layer: Any, x: np.ndarray) -> np.ndarray:
        """The layer's output in training mode."""
        ...

    def layer_gradients(self, layer: Any, x: np.ndarray, upstream: np.ndarray) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """``(d_input, {param: grad})`` of ``sum(upstream * layer(x))``."""
        ...

    def loss_forward(self, loss: Any, outputs: np.ndarray, labels: np.ndarray) -> float:
        ...

    def loss_gradient(self, loss: Any, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        ...


# ------------------------------------------------------------ optimizers, schedules


@runtime_checkable
class Optimizer(Protocol):
    """Updates parameters in place from their gradients.

    The optimizer owns everything about the update: weight decay, gradient clipping,
    its state (velocities, moments). The loop sets ``lr`` from the schedule and calls
    :meth:`step` once per batch. ``state_dict()`` returns ``{"steps": int, "slots":
    {param name: {slot name: ndarray}}}``, the layout checkpoints store;
    ``load_state_dict`` takes the same back into a fresh optimizer.
    """

    lr: float

    def step(self, named_params: Sequence[NamedParameter]) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class ClosureOptimizer(Protocol):
    """An optimizer that evaluates the loss itself (random search, line searches).

    The loop calls ``step(named_params, closure)``; ``closure()`` returns the batch's
    mean loss at the current values of the parameters (a forward pass, no gradients).
    Gradients are still computed before the step, as for any optimizer.
    """

    uses_closure: bool  # True

    def step(self, named_params: Sequence[NamedParameter], closure: Callable[[], float]) -> None: ...


@runtime_checkable
class Schedule(Protocol):
    """The learning rate over a run, from the optimizer's base rate.

    ``lr(base_lr, epoch, total_epochs)`` is asked at the start of every epoch (``epoch``
    an int from 0). A schedule whose class sets ``per_step = True`` is asked before
    every step instead, with a fractional ``epoch`` (``epoch + batches_done /
    steps_per_epoch``): warm-up, one-cycle, learning-rate range tests. The rate must be
    finite and positive for every epoch in ``[0, total_epochs)``.
    """

    def lr(self, base_lr: float, epoch: float, total_epochs: int) -> float: ...


@runtime_checkable
class StepSchedule(Protocol):
    """A schedule asked before every step (its class sets ``per_step = True``)."""

    per_step: bool  # True

    def lr(self, base_lr: float, epoch: float, total_epochs: int) -> float: ...


# ------------------------------------------------------------------------ datasets


@runtime_checkable
class Dataset(Protocol):
    """Training, validation and test examples.

    ``input_dim`` and ``num_classes`` are known before anything is loaded (the model is
    built and checked against them first). ``load()`` returns the three splits with
    features as floats and labels in ``[0, num_classes)``, the same for the same
    options. ``fetch()`` brings the files into the cache and verifies them (what
    ``harness data fetch NAME`` runs); a dataset with no files returns ``{}``.
    """

    input_dim: int
    num_classes: int

    def load(self) -> Splits: ...

    def fetch(self) -> dict[str, Path]: ...


# ------------------------------------------------------------------ gradient checks


@runtime_checkable
class GradientChecker(Protocol):
    """A conformance check ``harness check`` runs on every subject it applies to.

    ``check(subject)`` returns one :class:`harness.conformance.CheckResult` per
    parameter (or aspect) checked; ``applies_to(subject)`` picks the subjects (see
    :class:`harness.conformance.Subject`: a component of one engine, a name across
    engines, an optimizer, a schedule or a dataset).
    """

    name: str

    def check(self, subject: Any) -> list[Any]: ...

    def applies_to(self, subject: Any) -> bool: ...


__all__ = [
    "BufferedLayer", "ClosureOptimizer", "CompositeLayer", "Dataset", "Engine", "GradientChecker",
    "Layer", "Loss", "Model", "NamedParameter", "Optimizer", "RandomLayer", "Reseedable", "Schedule",
    "StepSchedule",
]

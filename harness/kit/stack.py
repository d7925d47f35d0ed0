"""What every engine's model shares: layers built in order, one naming rule, parameters.

An engine differs from another only in how a batch goes forward and backward; building
the layers, naming them and listing their parameters is the same everywhere, and lives
here so that two engines given the same seed start from the same weights under the same
names (checkpoints, exported models and diagnostics rely on both).
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from harness.contracts import NamedParameter


@runtime_checkable
class KindedLayer(Protocol):
    """A layer that says what it is (``kind = "dense"``), as every built-in layer does."""

    kind: str


def layer_kind(layer: object) -> str:
    """``layer.kind`` when the layer declares one, else its class name in lower case."""
    return layer.kind if isinstance(layer, KindedLayer) else type(layer).__name__.lower()


def layer_name(index: int, layer: object) -> str:
    """The one naming rule: ``"<position>.<kind>"`` (``"0.dense"``, ``"3.batch_norm"``).

    Parameters are named ``"<layer name>.<key>"`` (``"0.dense.W"``); layers inside a
    composite layer are named by the same rule within it (``"2.residual/0.dense"``)."""
    return f"{index}.{layer_kind(layer)}"


def build_stack(layers: list[Any], input_dim: int, rng: np.random.Generator, dtype: Any) -> int:
    """Build each layer on the previous one's output size; return the model's output size.

    Every engine draws its initial weights through this one loop, in layer order, so two
    engines given the same seed start from the same weights.
    """
    dim = input_dim
    for layer in layers:
        dim = layer.build(dim, rng, dtype)
    return dim


M = TypeVar("M", bound="LayerStackModel")


class LayerStackModel:
    """Base class of a model that is a stack of layers ending in a loss.

    Subclasses add ``train_batch`` and ``evaluate`` (how the engine computes); this class
    gives the rest of the :class:`harness.contracts.Model` contract. Build one with
    :meth:`build`, which builds the layers first.
    """

    def __init__(self, layers: list[Any], loss: Any, output_dim: int = 0) -> None:
        self.layers = layers
        self.loss = loss
        self.output_dim = output_dim
        self.layer_names = [layer_name(i, layer) for i, layer in enumerate(layers)]
        self.with_params = [layer for layer in layers if layer.params]
        self._named: list[NamedParameter] = [
            (f"{name}.{key}", layer.params[key], layer.grads[key])
            for name, layer in zip(self.layer_names, layers)
            for key in layer.params
        ]

    @classmethod
    def build(cls: type[M], layers: list[Any], loss: Any, *, input_dim: int, rng: np.random.Generator, dtype: Any) -> M:
        """Build the layers in order (:func:`build_stack`), then the model around them."""
        output_dim = build_stack(layers, input_dim, rng, dtype)
        return cls(layers, loss, output_dim)

    def named_parameters(self) -> list[NamedParameter]:
        """Every parameter as ``(name, value, grad)``: the same arrays on every call."""
        return self._named

    def parameter_count(self) -> int:
        return sum(value.size for _, value, _ in self._named)

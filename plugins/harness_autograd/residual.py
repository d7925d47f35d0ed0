"""Residual block for the ``autograd`` engine: ``y = x + f(x)`` as a Tensor graph.

The same layer as the backprop engine's ``residual`` (see
:mod:`harness_backprop.residual` for why the identity shortcut keeps gradients from
vanishing), with the same contract, so one model config builds the same network in
either engine:

* configured as ``{type: residual, layers: [...]}``; the core builds the nested specs
  for this engine and hands the layer objects over as ``layers``;
* the inner layers are built in order with the block's generator (the same draws as
  the same layers outside a block) and must give back the block's input size;
* ``params`` / ``grads`` expose the inner layers' arrays under ``"<i>.<kind>.<name>"``
  (``"0.dense.W"``), the very same array objects; ``layers`` lists the inner layers
  (checkpoints walk it for batch-norm buffers and dropout generators).

What the engine needs beyond that is ``tensors`` under the same prefixed names: the
leaves the inner layers last used, so the model can clear their gradients and a check
can read them. Here the backward pass is nothing to write: ``x`` feeds both the inner
stack and the final ``+``, and the graph adds the two gradients that reach it.
"""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness.errors import ConfigError
from harness_autograd.layers import Dense, Layer, Tanh
from harness_autograd.tensor import Tensor

CHECK_WIDTH = 5  # the input size the gradient checkers build layers with


class _FreshCheckBlock:
    """``Residual.check_options``: a new inner stack at every access, since layers hold
    state and two checks must never share one (the backprop block's options, in this
    engine's layers)."""

    def __get__(self, obj, owner) -> dict:
        return {"layers": [Dense(units=CHECK_WIDTH, init="xavier"), Tanh()]}


class Residual(Layer):
    """``x + f(x)`` with ``f`` the inner layers applied in order."""

    kind = "residual"
    check_options = _FreshCheckBlock()

    def __init__(self, layers: list):
        # No Layer.__init__: ``tensors`` is the inner layers' (a property), not a dict of its own.
        if not isinstance(layers, list) or not layers or not all(_is_layer(layer) for layer in layers):
            v.fail("layers", "a non-empty list of layer specs ({type: ..., ...})", layers)
        self.layers = layers
        self.names = [f"{i}.{_kind(layer)}" for i, layer in enumerate(layers)]
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._keys: list[tuple[str, Layer, str]] = []

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        dim = input_dim
        for layer in self.layers:
            dim = layer.build(dim, rng, dtype)
        if dim != input_dim:
            raise ConfigError(
                f"residual block: its layers must give back the block's input size {input_dim} "
                f"for the identity shortcut x + f(x), they give {dim} (set the last inner dense layer's units to {input_dim})"
            )
        self._keys = [(f"{name}.{key}", layer, key) for name, layer in zip(self.names, self.layers) for key in layer.params]
        self.params = {prefixed: layer.params[key] for prefixed, layer, key in self._keys}
        self.grads = {prefixed: layer.grads[key] for prefixed, layer, key in self._keys}
        return input_dim

    @property
    def tensors(self) -> dict[str, Tensor]:
        """The inner layers' current leaves under prefixed names (an inner layer makes a new
        leaf when a checker swaps an array in, so this is looked up, never stored)."""
        found = {}
        for prefixed, layer, key in self._keys:
            tensor = layer.tensors.get(key)
            if tensor is not None:
                found[prefixed] = tensor
        return found

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        self._sync_params()
        h = x
        for layer in self.layers:
            h = layer(h, train)
        return x + h

    def reseed(self, seed: int) -> None:
        """Replay the inner layers' randomness (dropout) for gradient checks."""
        for i, layer in enumerate(self.layers):
            if hasattr(layer, "reseed"):
                layer.reseed(seed + i)

    def _sync_params(self) -> None:
        """The block's ``params`` are authoritative: an array swapped in there (a checker
        substituting complex weights) is what the inner layers compute with. A few dict
        assignments; normally they re-store the same objects."""
        for prefixed, layer, key in self._keys:
            layer.params[key] = self.params[prefixed]


def _is_layer(obj) -> bool:
    """An autograd layer: built like any layer, and called on a Tensor (a backprop layer,
    which has no ``__call__``, is refused here rather than failing mid-forward)."""
    return callable(obj) and all(callable(getattr(obj, method, None)) for method in ("build", "forward"))


def _kind(layer) -> str:
    return getattr(layer, "kind", type(layer).__name__.lower())

"""Residual block (He et al., 2016): ``y = x + f(x)``, a remedy for vanishing gradients.

Backward, the identity shortcut adds the upstream gradient to whatever ``f`` lets
through: ``dx = dy + J_fᵀ dy``. However small ``f``'s Jacobian (sigmoids, tiny weights),
the gradient reaching the block's input is at least the one leaving it, so depth no
longer multiplies it away.

Configured as ``{type: residual, layers: [{type: dense, units: 64}, {type: relu}]}``:
the core builds the nested list and hands the layer objects over as ``layers``. The
contract another engine mirrors:

* the inner layers are built in order with the block's generator (same draws, same
  initial weights as the same layers outside a block), and must give back the block's
  input size (the shortcut is the identity, never a projection);
* ``params`` / ``grads`` expose the inner layers' arrays under ``"<i>.<kind>.<name>"``
  (``"0.dense.W"``), the very same array objects, so an optimizer stepping the block
  steps the inner layers; ``layers`` lists the inner layers (checkpoints walk it for
  buffers such as batch-norm running statistics and for dropout generators).
"""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness.errors import ConfigError
from harness_backprop.activations import Tanh
from harness_backprop.layers import Dense

CHECK_WIDTH = 5  # the input size the gradient checkers build layers with


class _FreshCheckBlock:
    """``Residual.check_options``: a new inner stack at every access, since layers hold
    state and two checks must never share one."""

    def __get__(self, obj, owner) -> dict:
        return {"layers": [Dense(units=CHECK_WIDTH, init="xavier"), Tanh()]}


class Residual:
    """``x + f(x)`` with ``f`` the inner layers applied in order."""

    kind = "residual"
    check_options = _FreshCheckBlock()

    def __init__(self, layers: list):
        if not isinstance(layers, list) or not layers or not all(_is_layer(layer) for layer in layers):
            v.fail("layers", "a non-empty list of layer specs ({type: ..., ...})", layers)
        self.layers = layers
        self.names = [f"{i}.{_kind(layer)}" for i, layer in enumerate(layers)]
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

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

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self._sync_params()
        h = x
        for layer in self.layers:
            h = layer.forward(h, train)
        return x + h

    def backward(self, dout: np.ndarray) -> np.ndarray:
        grad = dout
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return dout + grad

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
    return all(callable(getattr(obj, method, None)) for method in ("build", "forward", "backward"))


def _kind(layer) -> str:
    return getattr(layer, "kind", type(layer).__name__.lower())

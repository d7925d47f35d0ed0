"""Composite layers: the part of a residual block that does not depend on the engine.

:func:`harness.model.build_layers` builds a nested list of layer specs (``{type:
residual, layers: [...]}``) and hands the layer objects to the composite's factory. What
every engine's block then does with them is the same, and lives here: check the inner
layers, build them in order with the block's generator (the same draws, hence the same
initial weights, as the same layers outside a block), expose their arrays under
prefixed names, and replay their randomness for gradient checks. An engine adds only how
the block computes (a backward pass, or a graph).

The contract a block gives the engine and the core:

* ``params`` / ``grads`` hold the inner layers' arrays under ``"<i>.<kind>.<name>"``
  (``"0.dense.W"``), the very same array objects, so an optimizer stepping the block
  steps the inner layers;
* ``layers`` lists the inner layers (checkpoints walk it for buffers such as batch-norm
  running statistics and for dropout generators);
* ``params`` is authoritative: an array a gradient checker swaps in there (complex
  weights, say) is what the inner layers compute with after :meth:`sync_params`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness import validation as v
from harness.contracts import Reseedable
from harness.errors import ConfigError
from harness.kit.stack import layer_name


class LayerBlock:
    """Inner layers run as one layer whose output size must equal its input size."""

    kind = "block"  # a subclass names its kind ("residual")

    def __init__(self, layers: list[Any], is_layer: Callable[[object], bool]):
        if not isinstance(layers, list) or not layers or not all(is_layer(layer) for layer in layers):
            v.fail("layers", "a non-empty list of layer specs ({type: ..., ...})", layers)
        self.layers = layers
        self.names = [layer_name(i, layer) for i, layer in enumerate(layers)]
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._keys: list[tuple[str, Any, str]] = []

    def build(self, input_dim: int, rng: np.random.Generator, dtype) -> int:
        dim = input_dim
        for layer in self.layers:
            dim = layer.build(dim, rng, dtype)
        if dim != input_dim:
            raise ConfigError(
                f"{self.kind} block: its layers must give back the block's input size {input_dim} "
                f"for the identity shortcut x + f(x), they give {dim} (set the last inner dense layer's units to {input_dim})"
            )
        self._keys = [(f"{name}.{key}", layer, key) for name, layer in zip(self.names, self.layers) for key in layer.params]
        self.params = {prefixed: layer.params[key] for prefixed, layer, key in self._keys}
        self.grads = {prefixed: layer.grads[key] for prefixed, layer, key in self._keys}
        return input_dim

    def reseed(self, seed: int) -> None:
        """Replay the inner layers' randomness (dropout) for gradient checks."""
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Reseedable):
                layer.reseed(seed + i)

    def sync_params(self) -> None:
        """Hand the block's ``params`` down to the inner layers; called before each
        forward pass. A few dict assignments; normally they re-store the same objects."""
        for prefixed, layer, key in self._keys:
            layer.params[key] = self.params[prefixed]

    def inner(self, attribute: str) -> dict:
        """The inner layers' ``attribute`` dicts merged under the prefixed names (what an
        engine keeps per parameter besides the arrays, such as graph leaves)."""
        found = {}
        for prefixed, layer, key in self._keys:
            value = getattr(layer, attribute).get(key)
            if value is not None:
                found[prefixed] = value
        return found


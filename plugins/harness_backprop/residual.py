"""Residual block (He et al., 2016): ``y = x + f(x)``, a remedy for vanishing gradients.

Backward, the identity shortcut adds the upstream gradient to whatever ``f`` lets
through: ``dx = dy + J_fᵀ dy``. However small ``f``'s Jacobian (sigmoids, tiny weights),
the gradient reaching the block's input is at least the one leaving it, so depth no
longer multiplies it away.

Configured as ``{type: residual, layers: [{type: dense, units: 64}, {type: relu}]}``:
the core builds the nested list and hands the layer objects over as ``layers``;
:class:`harness.blocks.LayerBlock` builds them and exposes their arrays (the contract
another engine's block mirrors). This module adds the forward and backward passes.
"""

from __future__ import annotations

import numpy as np

from harness import LayerBlock
from harness_backprop.activations import Tanh
from harness_backprop.layers import Dense
from harness_backprop.scratch import Scratch

CHECK_WIDTH = 5  # the input size the gradient checkers build layers with


class _FreshCheckBlock:
    """``Residual.check_options``: a new inner stack at every access, since layers hold
    state and two checks must never share one."""

    def __get__(self, obj, owner) -> dict:
        return {"layers": [Dense(units=CHECK_WIDTH, init="xavier"), Tanh()]}


class Residual(LayerBlock):
    """``x + f(x)`` with ``f`` the inner layers applied in order."""

    kind = "residual"
    check_options = _FreshCheckBlock()

    def __init__(self, layers: list):
        super().__init__(layers, is_layer=_is_layer)
        self._scratch = Scratch()

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.sync_params()
        h = x
        for layer in self.layers:
            h = layer.forward(h, train)
        if not train:
            return x + h
        return np.add(x, h, out=self._scratch.get("out", np.broadcast_shapes(x.shape, h.shape), np.result_type(x, h)))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        grad = dout
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return np.add(dout, grad, out=self._scratch.get("dx", np.broadcast_shapes(dout.shape, grad.shape), np.result_type(dout, grad)))


def _is_layer(obj) -> bool:
    return all(callable(getattr(obj, method, None)) for method in ("build", "forward", "backward"))

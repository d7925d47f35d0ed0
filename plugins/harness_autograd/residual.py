"""Residual block for the ``autograd`` engine: ``y = x + f(x)`` as a Tensor graph.

The same layer as the backprop engine's ``residual`` (see
:mod:`harness_backprop.residual` for why the identity shortcut keeps gradients from
vanishing), with the same contract, so one model config builds the same network in
either engine: it is configured as ``{type: residual, layers: [...]}`` and built by
the same :class:`harness.blocks.LayerBlock`.

What the engine needs beyond that is ``tensors`` under the same prefixed names: the
leaves the inner layers last used, so the model can clear their gradients and a check
can read them. Here the backward pass is nothing to write: ``x`` feeds both the inner
stack and the final ``+``, and the graph adds the two gradients that reach it.
"""

from __future__ import annotations

from harness import LayerBlock
from harness_autograd.layers import Dense, Layer, Tanh
from harness_autograd.tensor import Tensor

CHECK_WIDTH = 5  # the input size the gradient checkers build layers with


class _FreshCheckBlock:
    """``Residual.check_options``: a new inner stack at every access, since layers hold
    state and two checks must never share one (the backprop block's options, in this
    engine's layers)."""

    def __get__(self, obj, owner) -> dict:
        return {"layers": [Dense(units=CHECK_WIDTH, init="xavier"), Tanh()]}


class Residual(LayerBlock, Layer):
    """``x + f(x)`` with ``f`` the inner layers applied in order."""

    kind = "residual"
    check_options = _FreshCheckBlock()

    def __init__(self, layers: list):
        # LayerBlock's __init__ only: ``tensors`` is the inner layers' (a property), not a dict of its own.
        LayerBlock.__init__(self, layers, is_layer=_is_layer)

    @property
    def tensors(self) -> dict[str, Tensor]:
        """The inner layers' current leaves under prefixed names (an inner layer makes a new
        leaf when a checker swaps an array in, so this is looked up, never stored)."""
        return self.inner("tensors")

    @tensors.setter
    def tensors(self, value: dict[str, Tensor]) -> None:
        # Layer's ``tensors`` is a plain attribute; this one is derived and cannot be set.
        raise AttributeError("Residual.tensors are its inner layers' leaves; set theirs instead")

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        self.sync_params()
        h = x
        for layer in self.layers:
            h = layer(h, train)
        return x + h


def _is_layer(obj) -> bool:
    """An autograd layer: built like any layer, and called on a Tensor (a backprop layer,
    which has no ``__call__``, is refused here rather than failing mid-forward)."""
    return callable(obj) and all(callable(getattr(obj, method, None)) for method in ("build", "forward"))

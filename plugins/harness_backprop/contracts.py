"""The backprop engine's own contract for layers and losses, beyond the core's.

The core's :class:`harness.Layer` says how a layer is built and run forward; this engine
also runs it backward, by hand. A third-party layer for ``engine=backprop`` implements
:class:`BackpropLayer`; a loss implements :class:`BackpropLoss`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from harness import Layer


@runtime_checkable
class BackpropLayer(Layer, Protocol):
    """A layer with a hand-written backward pass.

    ``forward(x, train)`` caches what ``backward`` needs; ``backward(d_out)`` writes the
    parameters' gradients into ``grads`` (in place: the optimizer holds those arrays)
    and returns the gradient with respect to the layer's input.
    """

    def backward(self, d_out: np.ndarray) -> np.ndarray | None: ...


@runtime_checkable
class SkipsInputGradient(Protocol):
    """A layer that can skip computing its input's gradient: the model sets
    ``needs_input_grad = False`` on its first layer with parameters (nobody needs the
    gradient of the pixels, a third of that layer's backward work)."""

    needs_input_grad: bool


@runtime_checkable
class BackpropLoss(Protocol):
    """``forward(outputs, labels)`` returns the batch's mean loss and caches what
    ``backward()`` needs to return ``d loss / d outputs``."""

    def forward(self, outputs: np.ndarray, labels: np.ndarray) -> float: ...

    def backward(self) -> np.ndarray: ...

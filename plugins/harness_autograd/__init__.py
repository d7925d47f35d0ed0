"""Autograd engines: a scalar ``Value`` to teach with and a NumPy ``Tensor`` that trains MNIST.

Both modes of automatic differentiation: reverse (``Value.backward``, ``Tensor.backward``:
all partials of one output per pass) and forward (``Dual`` numbers, and Tensor
Jacobian-vector products in :mod:`harness_autograd.tangents`: all outputs' derivatives
along one input direction per pass).

``Value`` (micrograd style, one number per node) with a tiny neural-network module in
:mod:`harness_autograd.nn`; ``Tensor`` (one array per node) with ``no_grad``. Both are
plugged into the harness as engines: ``engine=autograd`` (Tensor) trains any model
config the backprop engine trains, ``engine=scalar`` (Value) the small ones.
"""

from harness_autograd.dual import Dual
from harness_autograd.nn import MLP, Layer, Neuron
from harness_autograd.tangents import jvp, tangent, vjp
from harness_autograd.tensor import Tensor, is_grad_enabled, no_grad
from harness_autograd.value import Value

__all__ = ["MLP", "Dual", "Layer", "Neuron", "Tensor", "Value", "is_grad_enabled", "jvp", "no_grad", "tangent", "vjp"]

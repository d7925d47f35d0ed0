"""Float64 central differences: ``(f(θ+ε) − f(θ−ε)) / 2ε`` for every parameter entry.

The truncation error is O(ε²), so with ε = 1e-6 in float64 a correct backward pass
agrees to about 1e-9 relative error; a wrong one is off by order one. Inputs are kept
away from zero so the kink of ReLU-like functions never sits inside ``[x−ε, x+ε]``.
"""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness_gradcheck.base import ComponentChecker
from harness_gradcheck.numerics import check_points, loss_points, relative_error, replay_randomness
from harness_gradcheck.results import CheckResult

__all__ = ["CentralDifference", "numerical_gradient", "relative_error"]


def numerical_gradient(f, array: np.ndarray, eps: float) -> np.ndarray:
    """Central-difference gradient of scalar ``f()`` with respect to ``array`` (perturbed in place)."""
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        upper = f()
        flat[i] = original - eps
        lower = f()
        flat[i] = original
        flat_grad[i] = (upper - lower) / (2 * eps)
    return grad


class CentralDifference(ComponentChecker):
    """Checks layers, activations and losses built in float64.

    The component's engine supplies forward values and analytical gradients
    (``layer_forward``, ``layer_gradients``, ``loss_forward``, ``loss_gradient``), so
    one checker serves hand-written backward passes and autograd graphs alike.
    """

    name = "central_difference"

    def __init__(self, eps: float = 1e-6, tolerance: float = 1e-7, batch: int = 4, seed: int = 0):
        self.eps = v.positive("eps", eps)
        self.tolerance = v.positive("tolerance", tolerance)
        self.batch = v.integer("batch", batch, low=1)
        self.seed = v.integer("seed", seed, low=0)

    def check_layer(self, component: str, layer, engine, input_dim: int = 5) -> list[CheckResult]:
        """Compare the engine's gradients of ``Σ G ⊙ layer(x)`` with central differences."""
        rng = np.random.default_rng(self.seed)
        layer.build(input_dim, rng, np.float64)
        x = check_points(rng, self.batch, input_dim)
        replay_randomness(layer, self.seed)
        upstream = rng.standard_normal(np.shape(engine.layer_forward(layer, x.copy())))

        def objective() -> float:
            replay_randomness(layer, self.seed)
            return float(np.sum(upstream * engine.layer_forward(layer, x)))

        replay_randomness(layer, self.seed)
        d_input, grads = engine.layer_gradients(layer, x.copy(), upstream)
        results = [self._result(component, "input", d_input, numerical_gradient(objective, x, self.eps))]
        for name, value in layer.params.items():
            results.append(self._result(component, name, grads[name], numerical_gradient(objective, value, self.eps)))
        return results

    def check_loss(self, component: str, loss, engine, num_classes: int = 4) -> list[CheckResult]:
        """Compare the engine's gradient of a loss with central differences."""
        rng = np.random.default_rng(self.seed)
        outputs, labels = loss_points(rng, self.batch, num_classes)

        def objective() -> float:
            return engine.loss_forward(loss, outputs, labels)

        analytic = engine.loss_gradient(loss, outputs.copy(), labels)
        return [self._result(component, "input", analytic, numerical_gradient(objective, outputs, self.eps))]

"""Float64 central differences: ``(f(θ+ε) − f(θ−ε)) / 2ε`` for every parameter entry.

The truncation error is O(ε²), so with ε = 1e-6 in float64 a correct backward pass
agrees to about 1e-9 relative error; a wrong one is off by order one. Inputs are kept
away from zero so the kink of ReLU-like functions never sits inside ``[x−ε, x+ε]``.
"""

from __future__ import annotations

import numpy as np

from harness import validation as v
from harness_gradcheck.results import CheckResult


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``||a − n|| / (||a|| + ||n||)``, and 0 when both are exactly zero."""
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / denominator)


def away_from_zero(rng: np.random.Generator, shape, margin: float = 0.1) -> np.ndarray:
    z = rng.standard_normal(shape)
    return np.sign(z) * (margin + np.abs(z))


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


class CentralDifference:
    """Checks layers, activations and losses built in float64."""

    name = "central_difference"

    def __init__(self, eps: float = 1e-6, tolerance: float = 1e-7, batch: int = 4, seed: int = 0):
        self.eps = v.positive("eps", eps)
        self.tolerance = v.positive("tolerance", tolerance)
        self.batch = v.integer("batch", batch, low=1)
        self.seed = v.integer("seed", seed, low=0)

    def check_layer(self, component: str, layer, input_dim: int = 5) -> list[CheckResult]:
        """Compare ``layer.backward`` with central differences of ``Σ G ⊙ forward(x)``."""
        rng = np.random.default_rng(self.seed)
        layer.build(input_dim, rng, np.float64)
        if hasattr(layer, "needs_input_grad"):
            layer.needs_input_grad = True
        x = away_from_zero(rng, (self.batch, input_dim))
        weights = rng.standard_normal(layer.forward(x.copy(), True).shape)

        def objective() -> float:
            return float(np.sum(weights * layer.forward(x, True)))

        objective()
        d_input = layer.backward(weights.copy())
        analytic = {name: grad.copy() for name, grad in layer.grads.items()}
        results = [self._result(component, "input", d_input, numerical_gradient(objective, x, self.eps))]
        for name, value in layer.params.items():
            results.append(self._result(component, name, analytic[name], numerical_gradient(objective, value, self.eps)))
        return results

    def check_loss(self, component: str, loss, num_classes: int = 4) -> list[CheckResult]:
        """Compare ``loss.backward`` with central differences of ``loss.forward``."""
        rng = np.random.default_rng(self.seed)
        outputs = rng.standard_normal((self.batch, num_classes))
        labels = rng.integers(0, num_classes, self.batch)

        def objective() -> float:
            return float(loss.forward(outputs, labels))

        objective()
        analytic = np.array(loss.backward(), copy=True)
        return [self._result(component, "input", analytic, numerical_gradient(objective, outputs, self.eps))]

    def _result(self, component: str, parameter: str, analytic, numeric) -> CheckResult:
        return CheckResult(component, self.name, parameter, relative_error(analytic, numeric), self.tolerance)

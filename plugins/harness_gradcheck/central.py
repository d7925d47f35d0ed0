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


def _replay_randomness(layer, seed: int) -> None:
    """Stochastic layers (dropout) draw the same mask for every evaluation of a check."""
    if hasattr(layer, "reseed"):
        layer.reseed(seed)


class CentralDifference:
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
        x = away_from_zero(rng, (self.batch, input_dim))
        upstream = rng.standard_normal(np.shape(engine.layer_forward(layer, x.copy())))

        def objective() -> float:
            _replay_randomness(layer, self.seed)
            return float(np.sum(upstream * engine.layer_forward(layer, x)))

        _replay_randomness(layer, self.seed)
        d_input, grads = engine.layer_gradients(layer, x.copy(), upstream)
        results = [self._result(component, "input", d_input, numerical_gradient(objective, x, self.eps))]
        for name, value in layer.params.items():
            results.append(self._result(component, name, grads[name], numerical_gradient(objective, value, self.eps)))
        return results

    def check_loss(self, component: str, loss, engine, num_classes: int = 4) -> list[CheckResult]:
        """Compare the engine's gradient of a loss with central differences."""
        rng = np.random.default_rng(self.seed)
        outputs = rng.standard_normal((self.batch, num_classes))
        labels = rng.integers(0, num_classes, self.batch)

        def objective() -> float:
            return engine.loss_forward(loss, outputs, labels)

        analytic = engine.loss_gradient(loss, outputs.copy(), labels)
        return [self._result(component, "input", analytic, numerical_gradient(objective, outputs, self.eps))]

    def _result(self, component: str, parameter: str, analytic, numeric) -> CheckResult:
        return CheckResult(component, self.name, parameter, relative_error(analytic, numeric), self.tolerance)

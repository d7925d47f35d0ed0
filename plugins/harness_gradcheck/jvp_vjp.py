"""Forward mode against reverse mode: ``⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩`` (the dot-product test).

An engine that offers forward mode computes Jacobian-vector products ``J·v`` (how the
output moves when the input and weights move along ``v``); every engine computes
vector-Jacobian products ``Jᵀ·u`` (the gradients of ``Σ u ⊙ output``). Both are exact
and describe the same Jacobian, so for any ``v`` and ``u`` the two numbers

    ⟨J·v, u⟩   and   ⟨v, Jᵀ·u⟩

agree to rounding (relative error < 1e-10 in float64), with no step size and no
truncation error. The check runs one direction per block — the input, then each
parameter — so a failure names the block whose forward or backward rule is wrong.

It applies to components of engines that have forward mode (``layer_jvp`` and
``loss_jvp`` adapters: ``autograd`` with its Tensor JVP rules, ``scalar`` with
``Dual`` numbers). A component the engine cannot push a tangent through (an operation
without a forward rule: ``NotImplementedError``) is skipped with the reason.
"""

from __future__ import annotations

import numpy as np

from harness import Subject
from harness import validation as v
from harness_gradcheck.base import ComponentChecker
from harness_gradcheck.numerics import check_points, loss_points, replay_randomness
from harness_gradcheck.results import CheckResult


def dot_product_error(forward: float, backward: float) -> float:
    """``|a − b| / (|a| + |b|)`` of the two inner products; 0 when both are exactly 0."""
    denominator = abs(forward) + abs(backward)
    if denominator == 0:
        return 0.0
    if not np.isfinite(denominator):
        return float("nan")
    return float(abs(forward - backward) / denominator)


class JvpVjp(ComponentChecker):
    """Checks that an engine's forward-mode and reverse-mode products are transposes."""

    name = "jvp_vjp"

    def __init__(self, tolerance: float = 1e-10, batch: int = 4, seed: int = 0):
        self.tolerance = v.positive("tolerance", tolerance)
        self.batch = v.integer("batch", batch, low=1)
        self.seed = v.integer("seed", seed, low=0)

    def applies_to(self, subject: Subject) -> bool:
        if not super().applies_to(subject):
            return False
        engine = subject.make_engine()
        adapter = "loss_jvp" if subject.kind == "loss" else "layer_jvp"
        return callable(getattr(engine, adapter, None))

    def check_layer(self, component: str, layer, engine, input_dim: int = 5) -> list[CheckResult]:
        rng = np.random.default_rng(self.seed)
        layer.build(input_dim, rng, np.float64)
        x = check_points(rng, self.batch, input_dim)
        replay_randomness(layer, self.seed)
        u = rng.standard_normal(np.shape(engine.layer_forward(layer, x.copy())))
        replay_randomness(layer, self.seed)
        d_input, grads = engine.layer_gradients(layer, x.copy(), u)  # Jᵀ·u, every block at once

        blocks = {"input": x.shape, **{name: value.shape for name, value in layer.params.items()}}
        results = []
        for block, shape in blocks.items():
            direction = rng.standard_normal(shape)
            zeros = {name: np.zeros_like(value) for name, value in layer.params.items()}
            d_x = direction if block == "input" else np.zeros_like(x)
            d_params = zeros if block == "input" else {**zeros, block: direction}
            replay_randomness(layer, self.seed)
            try:
                _, jv = engine.layer_jvp(layer, x.copy(), d_x, d_params)
            except NotImplementedError as exc:
                return [self._skip(component, "input", f"no forward mode: {exc}")]
            backward = grads[block] if block != "input" else d_input
            forward_product = float(np.sum(np.asarray(jv) * u))
            backward_product = float(np.sum(direction * np.asarray(backward)))
            results.append(self._inner(component, block, forward_product, backward_product))
        return results

    def check_loss(self, component: str, loss, engine, num_classes: int = 4) -> list[CheckResult]:
        rng = np.random.default_rng(self.seed)
        outputs, labels = loss_points(rng, self.batch, num_classes)
        direction, u = rng.standard_normal(outputs.shape), float(rng.standard_normal())
        try:
            _, jv = engine.loss_jvp(loss, outputs.copy(), labels, direction)
        except NotImplementedError as exc:
            return [self._skip(component, "input", f"no forward mode: {exc}")]
        gradient = engine.loss_gradient(loss, outputs.copy(), labels)
        return [self._inner(component, "input", float(jv) * u, float(np.sum(direction * u * np.asarray(gradient))))]

    def _inner(self, component: str, block: str, forward_product: float, backward_product: float) -> CheckResult:
        detail = f"<Jv,u> = {forward_product:.12g}, <v,J^T u> = {backward_product:.12g}"
        return CheckResult(component, self.name, block, dot_product_error(forward_product, backward_product),
                           self.tolerance, detail)

"""Complex-step differentiation: ``f'(x) = Im f(x + ih) / h`` with no subtraction.

For a function that is real-analytic and written with operations that extend to
complex numbers (``+``, ``×``, ``exp``, ``tanh``, matrix products, ``max`` of real
parts), a step ``ih`` of ``h = 1e-20`` moves only the imaginary part; nothing is
subtracted, so nothing cancels, and the derivative is exact to machine precision. A
correct backward pass therefore agrees to ~1e-15 where central differences stop at
~1e-9, and a subtly wrong one (a constant off by 1e-6) cannot hide.

Not every component supports it, so the checker first asks: does the engine's forward
pass carry a complex input through (a complex output), and does the layer read the
complex parameters it is given? Where not, the result is *skipped* with the reason,
never passed. A component whose forward pass is not complex-analytic (``abs``,
``conj``) says so with a ``complex_step = False`` attribute and is skipped too.
"""

from __future__ import annotations

import warnings

import numpy as np

from harness import validation as v
from harness_gradcheck.base import ComponentChecker
from harness_gradcheck.numerics import check_points, loss_points, replay_randomness
from harness_gradcheck.results import CheckResult


def complex_step_gradient(f, array: np.ndarray, h: float) -> np.ndarray:
    """Gradient of ``f()`` (a complex scalar) w.r.t. the complex ``array``, perturbed in place."""
    grad = np.zeros(array.shape)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + 1j * h
        flat_grad[i] = np.imag(f()) / h
        flat[i] = original
    return grad


class ComplexStep(ComponentChecker):
    """Checks layers, activations and losses against complex-step derivatives."""

    name = "complex_step"

    def __init__(self, h: float = 1e-20, tolerance: float = 1e-12, batch: int = 4, seed: int = 0):
        self.h = v.positive("h", h)
        self.tolerance = v.positive("tolerance", tolerance)
        self.batch = v.integer("batch", batch, low=1)
        self.seed = v.integer("seed", seed, low=0)

    def check_layer(self, component: str, layer, engine, input_dim: int = 5) -> list[CheckResult]:
        """Compare the engine's gradients of ``Σ G ⊙ layer(x)`` with complex steps."""
        if getattr(layer, "complex_step", True) is False:
            return [self._skip(component, "input", "the component declares complex_step = False")]
        rng = np.random.default_rng(self.seed)
        layer.build(input_dim, rng, np.float64)
        x = check_points(rng, self.batch, input_dim)
        replay_randomness(layer, self.seed)
        upstream = rng.standard_normal(np.shape(engine.layer_forward(layer, x.copy())))
        replay_randomness(layer, self.seed)
        d_input, grads = engine.layer_gradients(layer, x.copy(), upstream)

        real_params = dict(layer.params)
        complex_params = {name: value.astype(np.complex128) for name, value in real_params.items()}
        x_complex = x.astype(np.complex128)

        def forward():
            replay_randomness(layer, self.seed)
            return engine.layer_forward(layer, x_complex)

        def objective():
            return np.sum(upstream * forward())

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            try:
                layer.params.update(complex_params)
                reason = self._unsupported(forward, x_complex)
                if reason:
                    return [self._skip(component, "input", reason)]
                results = [self._result(component, "input", d_input, complex_step_gradient(objective, x_complex, self.h))]
                for name, value in complex_params.items():
                    if not self._reads(layer, name, value, forward):
                        results.append(self._skip(component, name, f"the forward pass ignores a complex layer.params[{name!r}]"))
                        continue
                    numeric = complex_step_gradient(objective, value, self.h)
                    results.append(self._result(component, name, grads[name], numeric))
                return results
            finally:
                layer.params.update(real_params)

    def check_loss(self, component: str, loss, engine, num_classes: int = 4) -> list[CheckResult]:
        """Compare the engine's gradient of a loss with complex steps, where its value stays complex."""
        if getattr(loss, "complex_step", True) is False:
            return [self._skip(component, "input", "the component declares complex_step = False")]
        rng = np.random.default_rng(self.seed)
        outputs, labels = loss_points(rng, self.batch, num_classes)
        analytic = engine.loss_gradient(loss, outputs.copy(), labels)
        outputs_complex = outputs.astype(np.complex128)

        def objective():
            return engine.loss_forward(loss, outputs_complex, labels)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            probe = outputs_complex.copy()
            probe[0, 0] += 1j
            try:
                value = engine.loss_forward(loss, probe, labels)
            except Exception as exc:  # an unsupported input type, not a wrong gradient
                return [self._skip(component, "input", f"the loss does not take complex outputs ({type(exc).__name__})")]
            if not np.iscomplexobj(value):
                return [self._skip(component, "input", "the engine's loss_forward returns a real number, dropping the complex step")]
            numeric = complex_step_gradient(objective, outputs_complex, self.h)
        return [self._result(component, "input", analytic, numeric)]

    @staticmethod
    def _unsupported(forward, x_complex: np.ndarray) -> str:
        """Why the forward pass cannot carry a complex step, or '' when it can."""
        probe_at = x_complex.reshape(-1)
        original = probe_at[0]
        probe_at[0] = original + 1j
        try:
            out = forward()
        except Exception as exc:  # an unsupported input type, not a wrong gradient
            return f"the forward pass does not take complex input ({type(exc).__name__}: {str(exc)[:80]})"
        finally:
            probe_at[0] = original
        if not np.iscomplexobj(out):
            return f"the engine's forward pass returns {np.asarray(out).dtype}, dropping the imaginary part"
        return ""

    @staticmethod
    def _reads(layer, name: str, value: np.ndarray, forward) -> bool:
        """Does the forward pass use ``layer.params[name]``? Shift all of it by ``i`` and look."""
        layer.params[name] = value + 1j
        try:
            return bool(np.any(np.imag(forward()) != 0))
        finally:
            layer.params[name] = value

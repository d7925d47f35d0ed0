"""Gradient checkers: analytical gradients compared with numerical ones, and with other engines.

Each checker returns :class:`CheckResult` records, one per parameter (and one for the
input), so that ``harness check``, a test or a plugin author's own suite can all read
them:

* ``central_difference``: float64 central differences, relative error < 1e-7;
* ``complex_step``: complex-step derivatives, no cancellation, relative error < 1e-12,
  where the component carries a complex input (skipped with the reason elsewhere);
* ``cross_engine``: a name registered for several engines gives the same gradients in
  each, on the same weights and input (relative error < 1e-10);
* ``jvp_vjp``: an engine with forward mode gives Jacobian-vector products that are the
  transposes of its gradients, ``⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩`` (relative error < 1e-10);
* ``optimizer_quadratic``: an optimizer descends on a convex quadratic, and its state
  round-trips through ``state_dict`` / ``load_state_dict``.
"""

from harness_gradcheck.central import CentralDifference
from harness_gradcheck.complex_step import ComplexStep
from harness_gradcheck.cross_engine import CrossEngine
from harness_gradcheck.jvp_vjp import JvpVjp
from harness_gradcheck.numerics import relative_error
from harness_gradcheck.optimizer_check import OptimizerQuadratic
from harness_gradcheck.results import CheckResult

__all__ = ["CentralDifference", "CheckResult", "ComplexStep", "CrossEngine", "JvpVjp", "OptimizerQuadratic", "relative_error"]

"""The conformance checkers ``harness check`` runs: gradients, resume, optimizers, schedules, datasets.

Each checker returns :class:`CheckResult` records, one per parameter or aspect, so that
``harness check``, a test or a plugin author's own suite can all read them:

* ``central_difference``: float64 central differences, relative error < 1e-7;
* ``complex_step``: complex-step derivatives, no cancellation, relative error < 1e-12,
  where the component carries a complex input (skipped with the reason elsewhere);
* ``cross_engine``: a name registered for several engines gives the same gradients in
  each, on the same weights and input (relative error < 1e-10);
* ``jvp_vjp``: an engine with forward mode gives Jacobian-vector products that are the
  transposes of its gradients, ``⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩`` (relative error < 1e-10);
* ``resume``: a layer trained, checkpointed, restored into a fresh model and trained on
  is bit-identical to an uninterrupted run;
* ``optimizer_quadratic``: an optimizer divides a convex quadratic's loss by ten at its
  default rate, and its state round-trips through ``state_dict`` / ``load_state_dict``;
* ``schedule_contract``: finite positive rates over whole runs, epochs counted from 0,
  rates that depend on the arguments only;
* ``dataset_contract``: shapes, dtypes, label range, non-empty splits, the same arrays for
  the same options, an idempotent ``fetch()``; never a download.

The gradient checkers also run each of a component factory's ``check_variants``.
"""

from harness_gradcheck.central import CentralDifference
from harness_gradcheck.complex_step import ComplexStep
from harness_gradcheck.cross_engine import CrossEngine
from harness_gradcheck.dataset_check import DatasetContract
from harness_gradcheck.jvp_vjp import JvpVjp
from harness_gradcheck.numerics import relative_error
from harness_gradcheck.optimizer_check import OptimizerQuadratic
from harness_gradcheck.results import CheckResult
from harness_gradcheck.resume_check import ResumeCheck
from harness_gradcheck.schedule_check import ScheduleContract

__all__ = [
    "CentralDifference", "CheckResult", "ComplexStep", "CrossEngine", "DatasetContract", "JvpVjp", "OptimizerQuadratic",
    "ResumeCheck", "ScheduleContract", "relative_error",
]

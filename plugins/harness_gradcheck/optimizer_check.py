"""The optimizer conformance check: real descent on a convex quadratic, and a state round trip.

An optimizer has no gradient to compare, but three promises a run relies on:

* **descent**: at its check rate, ``DESCENT_STEPS`` steps on the well-conditioned
  quadratic ``½ Σ λ (w − w*)²`` (λ in [0.5, 2], two parameters of different shapes so
  per-name state is exercised, the start 0.1 per coordinate from the minimum) must
  divide the loss by at least ``1 / DESCENT_RATIO`` (ten). The measured "error" is the
  loss ratio after/before. Any working optimizer does far better at a usual rate: SGD at
  0.01 shrinks every coordinate's distance by ``1 − 0.01λ`` per step; Adam (1e-3) and
  sign-based optimizers (3e-4), which move each coordinate by about their rate per step,
  cover 0.1 in a few hundred steps. An optimizer whose step is far too small to train anything (``1e-7·g``
  at its default rate) barely moves the loss and fails: merely "not going up" proves
  nothing.
* **state round trip**: ``state_dict()`` is a snapshot (later steps do not change it)
  and ``load_state_dict()`` into a freshly built optimizer, with the same learning
  rate, continues exactly as the uninterrupted optimizer does: the weights after the
  same further steps agree to 1e-12 (in practice bit for bit). This is what resuming a
  run from a checkpoint needs.
* **state layout**: checkpoints store the state as arrays, so ``state_dict()`` must
  return ``{"steps": int, "slots": {param name: {slot name: ndarray}}}`` (slot names
  without ``/``), the layout the checkpoint writer reads and ``load_state_dict`` gets back.

The optimizer is built with its factory's ``check_options`` (its default rate unless
they give ``lr``); a factory that requires ``lr`` without giving ``check_options`` gets
``lr=0.01``. A closure optimizer (``uses_closure = True``) is called as the training loop
calls it, ``step(named_params, closure)``, with ``closure()`` the loss at the current
weights; the descent detail says how many loss evaluations it made.
"""

from __future__ import annotations

import inspect

import numpy as np

from harness import CheckResult, Subject
from harness import validation as v
from harness_gradcheck.numerics import relative_error

DESCENT_STEPS = 1000
DESCENT_RATIO = 0.1  # the loss after DESCENT_STEPS steps, at most this fraction of the start's
START_DISTANCE = 0.1  # standard deviation of the start's offset from the minimum, per coordinate


class Quadratic:
    """``½ Σ λ (w − w*)²`` over named parameters; gradients written into the same arrays."""

    SHAPES = {"w": (3, 4), "b": (4,)}

    def __init__(self, seed: int, distance: float = START_DISTANCE):
        rng = np.random.default_rng(seed)
        self.curvature = {k: rng.uniform(0.5, 2.0, s) for k, s in self.SHAPES.items()}
        self.minimum = {k: rng.standard_normal(s) for k, s in self.SHAPES.items()}
        self.start = {k: self.minimum[k] + distance * rng.standard_normal(s) for k, s in self.SHAPES.items()}
        self.evaluations = 0  # closure calls

    def fresh(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(k, self.start[k].copy(), np.zeros(s)) for k, s in self.SHAPES.items()]

    def loss(self, named) -> float:
        return float(sum(0.5 * np.sum(self.curvature[k] * (w - self.minimum[k]) ** 2) for k, w, _ in named))

    def descend(self, optimizer, named, steps: int) -> None:
        """``steps`` optimizer steps, called as the training loop calls them."""
        closure = getattr(optimizer, "uses_closure", False) is True

        def evaluate() -> float:
            self.evaluations += 1
            return self.loss(named)

        for _ in range(steps):
            for k, w, g in named:
                np.multiply(self.curvature[k], w - self.minimum[k], out=g)
            if closure:
                optimizer.step(named, evaluate)
            else:
                optimizer.step(named)


class OptimizerQuadratic:
    """Checks every registered optimizer: it descends, and its state round-trips."""

    name = "optimizer_quadratic"

    def __init__(self, steps: int = 20, descent_steps: int = DESCENT_STEPS, descent_ratio: float = DESCENT_RATIO,
                 lr: float = 0.01, tolerance: float = 1e-12, seed: int = 0):
        self.steps = v.integer("steps", steps, low=2)
        self.descent_steps = v.integer("descent_steps", descent_steps, low=1)
        self.descent_ratio = v.number("descent_ratio", descent_ratio, low=0, high=1, low_open=True, high_open=True)
        self.lr = v.positive("lr", lr)
        self.tolerance = v.positive("tolerance", tolerance)
        self.seed = v.integer("seed", seed, low=0)

    def applies_to(self, subject: Subject) -> bool:
        return subject.kind == "optimizer"

    def check(self, subject: Subject) -> list[CheckResult]:
        options = self._options(subject)
        return [self._descent(subject, options), self._round_trip(subject, options), self._layout(subject, options)]

    def _options(self, subject: Subject) -> dict:
        options = subject.check_options()
        try:
            lr = inspect.signature(subject.entry().factory).parameters.get("lr")
        except (TypeError, ValueError):
            lr = None
        if lr is not None and lr.default is inspect.Parameter.empty and "lr" not in options:
            options["lr"] = self.lr
        return options

    def _descent(self, subject: Subject, options: dict) -> CheckResult:
        problem = Quadratic(self.seed)
        named = problem.fresh()
        before = problem.loss(named)
        optimizer = subject.build(**options)
        with np.errstate(all="ignore"):  # a diverging optimizer is a failed result, not a warning
            problem.descend(optimizer, named, self.descent_steps)
            after = problem.loss(named)
        ratio = after / before if np.isfinite(after) else float("nan")
        detail = f"loss {before:.4g} -> {after:.4g} in {self.descent_steps} steps at lr {getattr(optimizer, 'lr', '?')}"
        if problem.evaluations:
            detail += f" ({problem.evaluations} loss evaluations)"
        if not ratio < self.descent_ratio:
            detail += f"; a working optimizer divides the loss by {1 / self.descent_ratio:g} or more here"
        return CheckResult(subject.label, self.name, "descent", ratio, self.descent_ratio, detail, measure="loss ratio")

    def _round_trip(self, subject: Subject, options: dict) -> CheckResult:
        half = self.steps // 2
        problem = Quadratic(self.seed)
        named = problem.fresh()
        original = subject.build(**options)
        problem.descend(original, named, half)
        state = original.state_dict()
        resumed_named = [(k, w.copy(), np.zeros_like(g)) for k, w, g in named]
        problem.descend(original, named, half)  # must not change `state`

        resumed = subject.build(**options)
        resumed.load_state_dict(state)
        resumed.lr = original.lr
        problem.descend(resumed, resumed_named, half)
        uninterrupted = np.concatenate([w.ravel() for _, w, _ in named])
        restored = np.concatenate([w.ravel() for _, w, _ in resumed_named])
        detail = f"{half} steps after load_state_dict vs {half} uninterrupted steps"
        return CheckResult(subject.label, self.name, "state_dict", relative_error(uninterrupted, restored), self.tolerance, detail)

    def _layout(self, subject: Subject, options: dict) -> CheckResult:
        problem = Quadratic(self.seed)
        optimizer = subject.build(**options)
        problem.descend(optimizer, problem.fresh(), 2)
        wrong = state_layout_problem(optimizer.state_dict(), set(Quadratic.SHAPES))
        error = float("inf") if wrong else 0.0
        detail = wrong or 'state_dict() is {"steps": int, "slots": {param: {slot: ndarray}}}'
        return CheckResult(subject.label, self.name, "state_layout", error, self.tolerance, detail, measure="layout mismatch")


def state_layout_problem(state, param_names: set[str]) -> str:
    """What is wrong with an optimizer's ``state_dict()`` for a checkpoint, or '' if nothing."""
    expected = 'checkpoints keep only state_dict() == {"steps": int, "slots": {param: {slot: ndarray}}}'
    if not isinstance(state, dict) or set(state) != {"steps", "slots"}:
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        return f"{expected}; got keys {keys}"
    if isinstance(state["steps"], bool) or not isinstance(state["steps"], (int, np.integer)):
        return f"{expected}; steps is {type(state['steps']).__name__}"
    slots = state["slots"]
    if not isinstance(slots, dict):
        return f"{expected}; slots is {type(slots).__name__}"
    for param, entries in slots.items():
        if param not in param_names:
            return f"{expected}; slots has {param!r}, not a parameter name"
        if not isinstance(entries, dict):
            return f"{expected}; slots[{param!r}] is {type(entries).__name__}"
        for slot, value in entries.items():
            if not isinstance(slot, str) or "/" in slot or not isinstance(value, np.ndarray):
                return f"{expected}; slots[{param!r}][{slot!r}] is {type(value).__name__}"
    return ""

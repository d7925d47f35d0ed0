"""The optimizer conformance check: descent on a convex quadratic, and a state round trip.

An optimizer has no gradient to compare, but two promises a run relies on:

* **descent**: a few steps on ``½ Σ λ (w − w*)²`` (λ in [0.5, 2], two parameters of
  different shapes so per-name state is exercised) lower the loss. The measured
  "error" is the loss ratio after/before, which must be below 1.
* **state round trip**: ``state_dict()`` is a snapshot (later steps do not change it)
  and ``load_state_dict()`` into a freshly built optimizer, with the same learning
  rate, continues exactly as the uninterrupted optimizer does: the weights after the
  same further steps agree to 1e-12 (in practice bit for bit). This is what resuming a
  run from a checkpoint needs.
* **state layout**: checkpoints store the state as arrays, so ``state_dict()`` must
  return ``{"steps": int, "slots": {param name: {slot name: ndarray}}}`` (slot names
  without ``/``), the layout the checkpoint writer reads and ``load_state_dict`` gets back.

The optimizer is built with its factory's ``check_options``; a factory that requires
``lr`` without giving ``check_options`` gets ``lr=0.01``.
"""

from __future__ import annotations

import inspect

import numpy as np

from harness import validation as v
from harness import CheckResult, Subject
from harness_gradcheck.numerics import relative_error


class Quadratic:
    """``½ Σ λ (w − w*)²`` over named parameters; gradients written into the same arrays."""

    SHAPES = {"w": (3, 4), "b": (4,)}

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.curvature = {k: rng.uniform(0.5, 2.0, s) for k, s in self.SHAPES.items()}
        self.minimum = {k: rng.standard_normal(s) for k, s in self.SHAPES.items()}
        self.start = {k: self.minimum[k] + rng.standard_normal(s) for k, s in self.SHAPES.items()}

    def fresh(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(k, self.start[k].copy(), np.zeros(s)) for k, s in self.SHAPES.items()]

    def loss(self, named) -> float:
        return float(sum(0.5 * np.sum(self.curvature[k] * (w - self.minimum[k]) ** 2) for k, w, _ in named))

    def descend(self, optimizer, named, steps: int) -> None:
        for _ in range(steps):
            for k, w, g in named:
                np.multiply(self.curvature[k], w - self.minimum[k], out=g)
            optimizer.step(named)


class OptimizerQuadratic:
    """Checks every registered optimizer: it descends, and its state round-trips."""

    name = "optimizer_quadratic"

    def __init__(self, steps: int = 20, lr: float = 0.01, tolerance: float = 1e-12, seed: int = 0):
        self.steps = v.integer("steps", steps, low=2)
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
        problem.descend(subject.build(**options), named, self.steps)
        after = problem.loss(named)
        ratio = after / before if np.isfinite(after) else float("nan")
        detail = f"loss {before:.4g} -> {after:.4g} in {self.steps} steps"
        return CheckResult(subject.label, self.name, "descent", ratio, 1.0, detail, measure="loss ratio")

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

"""Random search: perturb every weight at random, keep the perturbation if the loss fell.

The chapter's foil for gradient descent (§1.2, "random search doesn't work"). It needs
no gradient, only loss values: each step draws ``ε ~ N(0, σ²)`` for every weight, moves
all weights by it, and keeps the move only if the batch loss went down (else the
weights are put back exactly). In a handful of dimensions that finds the way downhill
often enough; in a network's tens of thousands it almost never does, because a random
direction is nearly orthogonal to the gradient and its curvature cost grows with the
dimension while its first-order gain does not. ``+experiment=random_vs_gradient`` shows
it next to SGD at the same number of loss evaluations.

``lr`` is the perturbation's standard deviation σ (so schedules scale it like a step
size). Each step costs two loss evaluations (before and after the move, on the same
batch: ``evaluations_per_step``), both through the closure the training loop passes
(plugin API: ``uses_closure = True``, ``step(named_params, closure)``). The noise of
step ``k`` comes from a generator seeded with ``(seed, k)``, so the state to save is the
step count alone and a resumed run draws exactly what the uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness import validation as v


class RandomSearch:
    """Keep a random move of all weights only when it lowers the batch loss."""

    kind = "random_search"
    uses_closure = True
    evaluations_per_step = 2
    check_options = {"lr": 0.05}  # the conformance check's quadratic is O(1) wide

    def __init__(self, lr: float = 0.01, seed: int = 0):
        self.lr = v.positive("lr", lr)
        self.seed = v.integer("seed", seed, low=0)
        self.steps = 0
        self.accepted = 0  # moves kept since this optimizer was built (for reports; not saved)

    def step(self, named_params: Sequence[tuple[str, np.ndarray, np.ndarray]], closure: Callable[[], float]) -> None:
        """One trial move: two loss evaluations, weights changed only if the loss fell."""
        before = closure()
        rng = np.random.default_rng((self.seed, self.steps))
        saved = []
        for _, value, _ in named_params:
            saved.append(value.copy())
            value += (self.lr * rng.standard_normal(value.shape)).astype(value.dtype, copy=False)
        after = closure()
        if after < before:
            self.accepted += 1
        else:  # worse, equal or not finite: back exactly where it was
            for (_, value, _), old in zip(named_params, saved):
                np.copyto(value, old)
        self.steps += 1

    def state_dict(self) -> dict:
        return {"steps": self.steps, "slots": {}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])

"""Lion: the sign of an interpolated momentum (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms")."""

from __future__ import annotations

import numpy as np

from harness import validation as v


class Lion:
    """``c = β₁m + (1−β₁)g``; ``w ← w − lr·(sign(c) + λw)``; ``m ← β₂m + (1−β₂)g``.

    Every coordinate moves by exactly ``lr`` (plus decoupled weight decay ``λ``), so the
    learning rate is typically 3–10× smaller than Adam's. The state is one momentum per
    parameter, kept by name in the layout checkpoints store:
    ``{"steps": int, "slots": {param name: {"m": array}}}``.
    """

    kind = "lion"

    def __init__(self, lr: float = 3e-4, beta1: float = 0.9, beta2: float = 0.99, weight_decay: float = 0.0):
        self.lr = v.positive("lr", lr)
        self.beta1 = v.number("beta1", beta1, low=0, high=1, high_open=True)
        self.beta2 = v.number("beta2", beta2, low=0, high=1, high_open=True)
        self.weight_decay = v.number("weight_decay", weight_decay, low=0)
        self.steps = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    def step(self, named_params) -> None:
        """One update of every ``(name, value, grad)``; values change in place."""
        self.steps += 1
        for name, value, grad in named_params:
            m = self.slots.setdefault(name, {}).get("m")
            if m is None:
                m = self.slots[name]["m"] = np.zeros_like(value)
            direction = np.sign(self.beta1 * m + (1.0 - self.beta1) * grad)
            if self.weight_decay:
                direction += self.weight_decay * value
            value -= np.asarray(self.lr, dtype=value.dtype) * direction
            m *= self.beta2
            m += (1.0 - self.beta2) * grad

    def state_dict(self) -> dict:
        return {"steps": self.steps, "slots": {name: {k: a.copy() for k, a in s.items()} for name, s in self.slots.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        self.slots = {name: {k: np.array(a) for k, a in s.items()} for name, s in state["slots"].items()}

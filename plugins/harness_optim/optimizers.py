"""SGD, momentum, Nesterov momentum and Adam.

State (velocities, moments, the step count) is kept per parameter name, so it can be
saved with ``state_dict`` and restored into a freshly built model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from harness import clip_by_global_norm, clip_by_value
from harness import validation as v

# Optimizer state that only decays (the velocity of a weight whose gradient is always
# zero, e.g. for MNIST's blank border pixels) sinks into subnormal floats after ~800
# steps, and subnormal arithmetic is tens of times slower on x86: it tripled the
# optimizer's time per epoch. Every FLUSH_EVERY steps such values are set to zero; they
# are far below anything that could move a weight.
FLUSH_EVERY = 100
FLUSH_BELOW = {np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-290}


class Optimizer(ABC):
    """Common options: learning rate, L2 weight decay, optional clipping.

    ``clip_value`` clamps every gradient entry to ``[-clip_value, clip_value]``;
    ``clip_norm`` then scales all gradients together so their global norm is at most
    ``clip_norm``. Both act on the gradients in place, before weight decay is added.

    Parameters an engine laid end to end in one array (values and gradients alike, see
    ``harness_backprop.model.pack_parameters``) are updated as one flat array: every
    rule here is elementwise, so the numbers are the same as one parameter at a time,
    with a handful of NumPy calls per step instead of a handful per parameter. Slots
    stay addressable per parameter name (views into the flat slots), so ``state_dict``
    does not change.
    """

    kind = "optimizer"

    def __init__(self, lr: float, weight_decay: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None):
        self.lr = v.positive("lr", lr)
        self.weight_decay = v.number("weight_decay", weight_decay, low=0)
        self.clip_norm = v.optional(v.number, "clip_norm", clip_norm, low=0, low_open=True)
        self.clip_value = v.optional(v.number, "clip_value", clip_value, low=0, low_open=True)
        self.steps = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str, np.ndarray] = {}
        self._plan_arrays: list[tuple[np.ndarray, np.ndarray]] = []
        self._plan: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._groups: dict[str, list[tuple[str, int, int, tuple]]] = {}

    def step(self, named_params) -> None:
        """One update of every ``(name, value, grad)``; values change in place."""
        if self.clip_value is not None:
            clip_by_value([g for _, _, g in named_params], self.clip_value)
        if self.clip_norm is not None:
            clip_by_global_norm([g for _, _, g in named_params], self.clip_norm)
        self.steps += 1
        for name, value, grad in self._units(named_params):
            if self.weight_decay:
                decay = np.multiply(value, self.weight_decay, out=self.scratch(name + "/decay", value))
                grad = np.add(grad, decay, out=decay)
            self.update(name, value, grad)
        if self.steps % FLUSH_EVERY == 0:
            self.flush_subnormals()

    def _units(self, named_params) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``named_params`` with runs of parameters packed end to end merged into one flat
        ``(group name, values, grads)``; worked out once for the same arrays."""
        seen = self._plan_arrays
        if len(seen) != len(named_params) or not all(
            value is seen_value and grad is seen_grad for (_, value, grad), (seen_value, seen_grad) in zip(named_params, seen)
        ):
            self._plan, self._groups = _coalesce(list(named_params))
            self._plan_arrays = [(value, grad) for _, value, grad in named_params]
        return self._plan

    def flush_subnormals(self) -> None:
        """Zero state entries too small to matter before they become subnormal."""
        for slots in self.slots.values():
            for array in slots.values():
                flat = array.reshape(-1)
                magnitude = np.abs(flat, out=self._work("flush/abs", flat.size, flat.dtype))
                tiny = np.less(magnitude, FLUSH_BELOW.get(flat.dtype, 0.0), out=self._work("flush/tiny", flat.size, np.bool_))
                np.copyto(flat, 0, where=tiny)

    def _work(self, name: str, size: int, dtype) -> np.ndarray:
        """The first ``size`` entries of a 1-D work array that grows as needed."""
        key = f"{name}/{np.dtype(dtype).name}"
        buffer = self._scratch.get(key)
        if buffer is None or buffer.size < size:
            buffer = self._scratch[key] = np.empty(size, dtype=dtype)
        return buffer[:size]

    @abstractmethod
    def update(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        """Apply this optimizer's rule to one parameter (or one flat group of them)."""

    def slot(self, name: str, key: str, like: np.ndarray) -> np.ndarray:
        members = self._groups.get(name)
        if members is not None:
            return self._group_slot(name, key, like, members)
        slots = self.slots.setdefault(name, {})
        if key not in slots:
            slots[key] = np.zeros_like(like)
        return slots[key]

    def _group_slot(self, group: str, key: str, like: np.ndarray, members) -> np.ndarray:
        """The flat slot of a group; each member's slot is a view into it, and a member
        slot already there (restored from a checkpoint) is copied in first."""
        flat = self._scratch.get(f"{group}/slot/{key}")
        if flat is None or flat.shape != like.shape or flat.dtype != like.dtype:
            flat = self._scratch[f"{group}/slot/{key}"] = np.zeros_like(like)
            for name, start, stop, shape in members:
                view = flat[start:stop].reshape(shape)
                previous = self.slots.get(name, {}).get(key)
                if previous is not None:
                    np.copyto(view, previous)
                self.slots.setdefault(name, {})[key] = view
        return flat

    def scratch(self, name: str, like: np.ndarray) -> np.ndarray:
        """A reusable buffer shaped like ``like``: updates allocate nothing per step."""
        buffer = self._scratch.get(name)
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = self._scratch[name] = np.empty_like(like)
        return buffer

    def state_dict(self) -> dict:
        return {
            "steps": self.steps,
            "slots": {name: {k: a.copy() for k, a in s.items()} for name, s in self.slots.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        self.slots = {name: {k: np.array(a) for k, a in s.items()} for name, s in state["slots"].items()}
        # flat group slots are rebuilt from these at the next step
        self._scratch = {k: a for k, a in self._scratch.items() if "/slot/" not in k}


def _coalesce(named_params: list) -> tuple[list, dict]:
    """Merge consecutive parameters whose values (and gradients) sit end to end in one
    flat array into one unit named ``"<first>..<last>"``; the others stay as they are."""
    units, groups = [], {}
    run: list = []

    def close() -> None:
        if len(run) == 1:
            units.append(run[0])
        elif run:
            first_value, first_grad = run[0][1], run[0][2]
            size = sum(value.size for _, value, _ in run)
            values = _flat_from(first_value, size)
            grads = _flat_from(first_grad, size)
            name = f"{run[0][0]}..{run[-1][0]}"
            members, start = [], 0
            for member, value, _ in run:
                members.append((member, start, start + value.size, value.shape))
                start += value.size
            groups[name] = members
            units.append((name, values, grads))
        run.clear()

    for entry in named_params:
        if run and not _follows(run[-1], entry):
            close()
        run.append(entry)
    close()
    return units, groups


def _follows(previous, entry) -> bool:
    """Does ``entry`` start where ``previous`` ends, in the same flat arrays?"""
    _, value_a, grad_a = previous
    _, value_b, grad_b = entry
    arrays = (value_a, grad_a, value_b, grad_b)
    if not all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.base is not None for a in arrays):
        return False
    if value_a.base is not value_b.base or grad_a.base is not grad_b.base or value_a.base is grad_a.base:
        return False
    if len({a.dtype for a in arrays}) != 1 or value_a.base.ndim != 1 or grad_a.base.ndim != 1:
        return False
    return (value_b.ctypes.data == value_a.ctypes.data + value_a.nbytes
            and grad_b.ctypes.data == grad_a.ctypes.data + grad_a.nbytes)


def _flat_from(first: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` elements of ``first``'s 1-D base array starting where ``first`` does."""
    base = first.base
    assert base is not None  # _follows checked that ``first`` is a view
    start = (first.ctypes.data - base.ctypes.data) // base.itemsize
    return base[start:start + size]


class SGD(Optimizer):
    """``w ← w − lr·g``."""

    kind = "sgd"

    def update(self, name, value, grad):
        step = np.multiply(grad, self.lr, out=self.scratch(name, value))
        value -= step


class Momentum(Optimizer):
    """Heavy-ball momentum: ``v ← μv + g``, ``w ← w − lr·v``."""

    kind = "momentum"

    def __init__(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, clip_norm: float | None = None,
                 clip_value: float | None = None):
        super().__init__(lr, weight_decay, clip_norm, clip_value)
        self.momentum = v.number("momentum", momentum, low=0, high=1, high_open=True)

    def update(self, name, value, grad):
        velocity = self.slot(name, "velocity", value)
        velocity *= self.momentum
        velocity += grad
        step = np.multiply(velocity, self.lr, out=self.scratch(name, value))
        value -= step


class Nesterov(Momentum):
    """Nesterov momentum: step along ``g + μv``, the gradient looked at one step ahead."""

    kind = "nesterov"

    def update(self, name, value, grad):
        velocity = self.slot(name, "velocity", value)
        velocity *= self.momentum
        velocity += grad
        step = np.multiply(velocity, self.momentum, out=self.scratch(name, value))
        step += grad
        step *= self.lr
        value -= step


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias-corrected first and second moments."""

    kind = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, clip_norm: float | None = None, clip_value: float | None = None):
        super().__init__(lr, weight_decay, clip_norm, clip_value)
        self.beta1 = v.number("beta1", beta1, low=0, high=1, high_open=True)
        self.beta2 = v.number("beta2", beta2, low=0, high=1, high_open=True)
        self.eps = v.positive("eps", eps)

    def update(self, name, value, grad):
        m = self.slot(name, "m", value)
        s = self.slot(name, "v", value)
        work = self.scratch(name, value)
        m *= self.beta1
        m += np.multiply(grad, 1 - self.beta1, out=work)
        s *= self.beta2
        np.multiply(grad, grad, out=work)
        work *= 1 - self.beta2
        s += work
        step_size = self.lr * np.sqrt(1 - self.beta2 ** self.steps) / (1 - self.beta1 ** self.steps)
        np.sqrt(s, out=work)
        work += self.eps
        np.divide(m, work, out=work)
        work *= step_size
        value -= work

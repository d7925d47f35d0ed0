"""The resume check: a layer survives a checkpoint bit for bit.

The README promises that a run stopped and resumed from its checkpoint computes exactly
what an uninterrupted one would. Checkpoints save what the contracts name: every
parameter, every buffer of a :class:`~harness.BufferedLayer` (batch-norm statistics),
the generator ``rng`` of every :class:`~harness.RandomLayer` (dropout masks), nested
layers of a :class:`~harness.CompositeLayer` included. A layer that keeps anything else
that changes while it trains (a step counter, a generator under another name, a
running average in a plain attribute) resumes differently, silently.

So for every layer and activation of every engine the check builds a tiny model around
it, ``dense(5) → layer → dense(3)`` in the layer's engine (the layer alone if the engine
has no ``dense``), with the engine's softmax cross-entropy (or another of its losses),
and trains it with momentum (state to restore too) on ``K + M`` batches:

1. uninterrupted: ``K + M`` steps;
2. interrupted: ``K`` steps, :func:`harness.save_checkpoint` (what a run writes), a
   *fresh* model built from the same spec and seed, :func:`harness.restore_checkpoint`,
   then the remaining ``M`` steps.

Parameters, buffers and generator states must then be bit-identical, and so must the
two models' outputs on one more batch, in evaluation and in training mode. Anything
else fails with one line naming the first array that differs.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    BufferedLayer,
    CheckResult,
    RandomLayer,
    Subject,
    TrainingState,
    model_arrays,
    model_components,
    restore_checkpoint,
    save_checkpoint,
)
from harness import validation as v

BIT_FOR_BIT = math.ulp(0.0)  # the smallest positive double: only an exact match is below it
WIDTH = 5  # the input size every checker builds layers with (composite check_options assume it)
CLASSES = 3
INPUT = 4
LOSSES = ("softmax_cross_entropy", "mse")


class HeavyBall:
    """Momentum SGD with its velocities in the checkpoint layout: optimizer state that a
    resume must restore as well (the check tests layers, so it brings its own optimizer)."""

    def __init__(self, lr: float = 0.05, momentum: float = 0.9):
        self.lr, self.momentum = lr, momentum
        self.steps = 0
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    def step(self, named) -> None:
        self.steps += 1
        for name, value, grad in named:
            velocity = self.slots.setdefault(name, {}).setdefault("velocity", np.zeros_like(value))
            velocity *= self.momentum
            velocity += grad
            value -= self.lr * velocity

    def state_dict(self) -> dict:
        return {"steps": self.steps, "slots": {n: {k: a.copy() for k, a in s.items()} for n, s in self.slots.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        self.slots = {n: {k: np.array(a) for k, a in s.items()} for n, s in state["slots"].items()}


class ResumeCheck:
    """Checks every single-engine layer and activation: train, checkpoint, restore, continue."""

    name = "resume"

    def __init__(self, before: int = 3, after: int = 3, batch: int = 6, seed: int = 0):
        self.before = v.integer("before", before, low=1)
        self.after = v.integer("after", after, low=1)
        self.batch = v.integer("batch", batch, low=2)
        self.seed = v.integer("seed", seed, low=0)

    def applies_to(self, subject: Subject) -> bool:
        return subject.kind in ("layer", "activation") and len(subject.engines) == 1

    def check(self, subject: Subject) -> list[CheckResult]:
        registry, engine_name = subject.registry, subject.engines[0]
        loss_name = next((n for n in LOSSES if registry.has("loss", n, engine=engine_name)), None)
        loss_name = loss_name or next(iter(registry.names("loss", engine_name)), None)
        if loss_name is None:
            return [self._skip(subject, f"engine {engine_name!r} registers no loss to train a model with")]
        alone = not registry.has("layer", "dense", engine=engine_name)
        batches = self._batches(WIDTH if alone else INPUT, self.before + self.after + 1)
        steps, probe = batches[:-1], batches[-1]

        uninterrupted = self._model(subject, loss_name, alone)
        self._train(uninterrupted, HeavyBall(), steps)

        interrupted, optimizer = self._model(subject, loss_name, alone), HeavyBall()
        self._train(interrupted, optimizer, steps[: self.before])
        resumed, resumed_optimizer = self._model(subject, loss_name, alone), HeavyBall()
        with tempfile.TemporaryDirectory(prefix="harness-resume-check-") as tmp:
            save_checkpoint(Path(tmp), model=interrupted, optimizer=optimizer, shuffle_rng=np.random.default_rng(1),
                            data_rng=np.random.default_rng(2), state=TrainingState(step=self.before),
                            config_yaml="", ids={})
            restore_checkpoint(Path(tmp), model=resumed, optimizer=resumed_optimizer,
                               shuffle_rng=np.random.default_rng(), data_rng=np.random.default_rng())
        self._train(resumed, resumed_optimizer, steps[self.before:])

        hint = _hint(resumed)
        results = [self._compare(subject, "parameters", _arrays(uninterrupted, "param/"), _arrays(resumed, "param/"), hint)]
        buffers = _arrays(uninterrupted, "buffer/")
        if buffers:
            results.append(self._compare(subject, "buffers", buffers, _arrays(resumed, "buffer/"), hint))
        generators = _generators(uninterrupted)
        if generators:
            results.append(self._compare_generators(subject, generators, _generators(resumed), hint))
        x, y = probe
        expected: dict[str, np.ndarray] = {}
        actual: dict[str, np.ndarray] = {}
        for mode, model, found in (("evaluation", uninterrupted, expected), ("evaluation", resumed, actual),
                                   ("training", uninterrupted, expected), ("training", resumed, actual)):
            labels = _labels(y, model.output_dim)
            run = model.evaluate if mode == "evaluation" else model.train_batch
            found[f"{mode} outputs on a new batch"] = np.asarray(run(x, labels)[1])
        results.append(self._compare(subject, "outputs", expected, actual, hint))
        return results

    # ------------------------------------------------------------------ pieces

    def _model(self, subject: Subject, loss_name: str, alone: bool):
        """A fresh model around a fresh copy of the layer, always from the same seed."""
        registry, engine_name = subject.registry, subject.engines[0]

        def dense(units: int):
            return registry.create("layer", "dense", {"units": units}, section="resume check", engine=engine_name)

        layers = [subject.build()] if alone else [dense(WIDTH), subject.build(), dense(CLASSES)]
        loss = registry.create("loss", loss_name, {}, section="resume check", engine=engine_name)
        return subject.make_engine().build_model(
            layers, loss, input_dim=WIDTH if alone else INPUT, rng=np.random.default_rng(self.seed),
            dtype=np.dtype(np.float64),
        )

    def _batches(self, width: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """``count`` fixed batches, the same for every model."""
        rng = np.random.default_rng(self.seed + 1)
        return [(rng.standard_normal((self.batch, width)), rng.integers(0, CLASSES, self.batch)) for _ in range(count)]

    def _train(self, model, optimizer: HeavyBall, batches) -> None:
        params = model.named_parameters()
        for x, y in batches:
            model.train_batch(x, _labels(y, model.output_dim))
            optimizer.step(params)

    def _compare(self, subject: Subject, aspect: str, expected: dict, actual: dict, hint: str) -> CheckResult:
        worst, first = 0.0, ""
        for key, a in expected.items():
            b = actual.get(key)
            if b is None or np.shape(a) != np.shape(b):
                return self._failed(subject, aspect, math.inf, f"{key} is {np.shape(a)} uninterrupted, "
                                    f"{'missing' if b is None else np.shape(b)} after the resume", hint)
            if np.array_equal(a, b, equal_nan=True):
                continue
            gap = float(np.nanmax(np.abs(np.asarray(a, dtype=complex) - np.asarray(b, dtype=complex))))
            if not first:
                first = key
            worst = max(worst, gap if math.isfinite(gap) else math.inf)
        if first:
            return self._failed(subject, aspect, worst or math.inf, f"{first} differs after the resume", hint)
        return CheckResult(subject.label, self.name, aspect, 0.0, BIT_FOR_BIT,
                           f"bit-identical after {self.before} steps, checkpoint, restore, {self.after} steps",
                           measure="max |resumed - uninterrupted|")

    def _compare_generators(self, subject: Subject, expected: dict, actual: dict, hint: str) -> CheckResult:
        for name, state in expected.items():
            if actual.get(name) != state:
                return self._failed(subject, "generators", math.inf, f"the generator of {name} is not where the "
                                    f"uninterrupted run's is", hint)
        return CheckResult(subject.label, self.name, "generators", 0.0, BIT_FOR_BIT,
                           f"{len(expected)} generator(s) in the uninterrupted run's state",
                           measure="max |resumed - uninterrupted|")

    def _failed(self, subject: Subject, aspect: str, error: float, what: str, hint: str) -> CheckResult:
        detail = f"{what}: {hint}"
        return CheckResult(subject.label, self.name, aspect, error, BIT_FOR_BIT, detail,
                           measure="max |resumed - uninterrupted|")

    def _skip(self, subject: Subject, reason: str) -> CheckResult:
        return CheckResult(subject.label, self.name, "parameters", math.nan, BIT_FOR_BIT, reason, skipped=True)


def _arrays(model, prefix: str) -> dict[str, np.ndarray]:
    return {k: np.array(a) for k, a in model_arrays(model).items() if k.startswith(prefix)}


def _generators(model) -> dict[str, Mapping[str, Any]]:
    return {name: layer.rng.bit_generator.state for name, layer in model_components(model) if isinstance(layer, RandomLayer)}


def _hint(model) -> str:
    """Why a layer of ``model`` may not resume: a near miss of the contracts, or the general rule."""
    for name, layer in model_components(model):
        if isinstance(getattr(layer, "rng", None), np.random.Generator) and not isinstance(layer, RandomLayer):
            return f"layer {name} has an rng but no reseed(seed), so checkpoints do not save it (see harness.RandomLayer)"
        if hasattr(layer, "buffers") and not isinstance(layer.buffers, dict):
            return f"layer {name} has buffers that are not a dict of arrays (see harness.BufferedLayer)"
        if isinstance(layer, BufferedLayer) and not all(isinstance(b, np.ndarray) for b in layer.buffers.values()):
            return f"layer {name} has buffers that are not arrays (see harness.BufferedLayer)"
    return ("the layer keeps state that checkpoints do not save (only params, buffers of a BufferedLayer and "
            "rng of a RandomLayer are saved)")


def _labels(y: np.ndarray, classes: int) -> np.ndarray:
    """Labels the model's outputs can score (a layer alone may have fewer than CLASSES outputs)."""
    return y % max(int(classes), 1)

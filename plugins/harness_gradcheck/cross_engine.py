"""Cross-engine agreement: the same component, weights and input give the same gradients.

For every layer, activation or loss name registered for two or more engines, the
checker builds it in each engine from the same seed, copies the first engine's weights
into the others (so the comparison does not depend on every engine drawing its
initial weights the same way), replays the same random mask in stochastic layers, and
compares each engine's forward output, input gradient and parameter gradients with the
first engine's. Both sides are exact analytical results in float64, so they must agree
to rounding: relative error below 1e-10.
"""

from __future__ import annotations

import numpy as np

from harness import CheckResult, Subject
from harness import validation as v
from harness_gradcheck.numerics import check_points, loss_points, relative_error, replay_randomness


class CrossEngine:
    """Compares a component's analytical gradients across the engines that provide it."""

    name = "cross_engine"

    def __init__(self, tolerance: float = 1e-10, batch: int = 4, input_dim: int = 5, num_classes: int = 4, seed: int = 0):
        self.tolerance = v.positive("tolerance", tolerance)
        self.batch = v.integer("batch", batch, low=1)
        self.input_dim = v.integer("input_dim", input_dim, low=1)
        self.num_classes = v.integer("num_classes", num_classes, low=2)
        self.seed = v.integer("seed", seed, low=0)

    def applies_to(self, subject: Subject) -> bool:
        return subject.is_component and len(subject.engines) >= 2

    def check(self, subject: Subject) -> list[CheckResult]:
        reference, *others = subject.engines
        if subject.kind == "loss":
            values = {e: self._loss_values(subject, e) for e in subject.engines}
        else:
            values = self._layer_values(subject)
        results = []
        for other in others:
            for key, ref_value in values[reference].items():
                where = f"{key} ({other} vs {reference})"
                if key not in values[other]:
                    results.append(self._result(subject, where, np.inf, f"{other} gives no {key!r}"))
                    continue
                results.append(self._result(subject, where, *_compare(ref_value, values[other][key])))
        return results

    # ----------------------------------------------------------------- layers

    def _layer_values(self, subject: Subject) -> dict[str, dict[str, np.ndarray]]:
        built = {}
        for engine_name in subject.engines:
            layer = subject.build(engine_name)
            layer.build(self.input_dim, np.random.default_rng(self.seed), np.float64)
            built[engine_name] = (layer, subject.make_engine(engine_name))
        reference = subject.engines[0]
        ref_layer = built[reference][0]
        for engine_name, (layer, _) in built.items():
            if engine_name != reference:
                _copy_weights(ref_layer, layer, subject.label, engine_name, reference)

        rng = np.random.default_rng(self.seed + 1)
        x = check_points(rng, self.batch, self.input_dim)
        replay_randomness(ref_layer, self.seed)
        upstream = rng.standard_normal(np.shape(built[reference][1].layer_forward(ref_layer, x.copy())))
        values = {}
        for engine_name, (layer, engine) in built.items():
            replay_randomness(layer, self.seed)
            output = np.asarray(engine.layer_forward(layer, x.copy()))
            replay_randomness(layer, self.seed)
            d_input, grads = engine.layer_gradients(layer, x.copy(), upstream)
            values[engine_name] = {"output": output, "input": d_input, **grads}
        return values

    # ------------------------------------------------------------------- losses

    def _loss_values(self, subject: Subject, engine_name: str) -> dict[str, np.ndarray]:
        loss, engine = subject.build(engine_name), subject.make_engine(engine_name)
        outputs, labels = loss_points(np.random.default_rng(self.seed), self.batch, self.num_classes)
        value = engine.loss_forward(loss, outputs.copy(), labels)
        gradient = engine.loss_gradient(loss, outputs.copy(), labels)
        return {"value": np.asarray(value, dtype=np.float64), "input": gradient}

    def _result(self, subject: Subject, parameter: str, error: float, detail: str = "") -> CheckResult:
        return CheckResult(subject.label, self.name, parameter, error, self.tolerance, detail)


def _compare(reference, other) -> tuple[float, str]:
    """``(relative error, detail)``; a missing or differently shaped array is an infinite error."""
    if reference is None or other is None:
        return (0.0, "") if reference is None and other is None else (np.inf, "one engine gives None")
    reference, other = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if reference.shape != other.shape:
        return np.inf, f"shapes differ: {reference.shape} vs {other.shape}"
    return relative_error(reference, other), ""


def _copy_weights(source, target, label: str, engine: str, reference: str) -> None:
    """Give ``target`` exactly ``source``'s weights, in place (engines may hold views of them)."""
    if set(source.params) != set(target.params):
        raise ValueError(
            f"{label}: {engine} has parameters {sorted(target.params)} but {reference} has {sorted(source.params)}"
        )
    for name, value in source.params.items():
        destination = target.params[name]
        if np.shape(destination) != np.shape(value):
            raise ValueError(f"{label}: parameter {name} is {np.shape(destination)} in {engine}, {np.shape(value)} in {reference}")
        np.copyto(destination, value)

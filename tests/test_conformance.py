"""The conformance suite: every checker over every component, and proof that it can fail.

The built-ins must pass; a fake second engine shows the cross-engine checker picks up
any name registered for two engines, and that it catches a gradient off by a factor
that central differences cannot see; deliberately wrong components and checkers fail
with messages that name the component, the parameter and the error.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import hookimpl
from harness.conformance import CheckResult, collect_subjects, run_suite, select_cases
from harness.errors import PluginError
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.testing import parametrize_with_checks
from harness_backprop.activations import ReLU, Tanh
from harness_backprop.layers import Dense
from harness_backprop.losses import SoftmaxCrossEntropy
from harness_backprop.model import BackpropEngine
from harness_gradcheck import ComplexStep, CrossEngine

BROKEN_FIXTURE = Path(__file__).parent / "fixtures" / "broken_plugin"
CENTRAL_TOLERANCE = 1e-7


def registry_with(*plugins) -> Registry:
    """The backprop engine, optimizers and checkers, plus ``(name, plugin object)`` pairs.

    Other installed engines are left out so that a name spans exactly backprop and the
    test's engine.
    """
    pm = load_plugins({"backprop", "optim", "gradcheck"}, use_env=False)
    for name, plugin in plugins:
        pm.register_plugin(plugin, name, f"{name} = tests.test_conformance")
    return Registry(pm)


# ------------------------------------------------------------------- built-ins


@parametrize_with_checks()
def test_every_installed_component_passes(check):
    check()


def test_builtins_pass_and_central_differences_stay_below_1e_7():
    report = run_suite(Registry(load_plugins(use_env=False)))
    assert report.passed, report.failures
    central = [r for case in report.cases if case.case.checker_name == "central_difference" for r in case.results]
    assert central and max(r.error for r in central) < CENTRAL_TOLERANCE
    assert {r.tolerance for r in central} == {CENTRAL_TOLERANCE}


def test_every_component_of_every_engine_gets_a_central_difference_case():
    registry = Registry(load_plugins(use_env=False))
    cases = {case.id for case in select_cases(registry, checker="central_difference")}
    expected = {
        f"{entry.engine}:{entry.name}-central_difference"
        for kind in ("layer", "activation", "loss")
        for entry in registry.entries(kind)
    }
    variants = {  # each of a factory's check_variants is a case of its own
        f"{engine}:softmax_cross_entropy(label_smoothing=0.1)-central_difference" for engine in ("autograd", "backprop")
    }
    assert "backprop:dense-central_difference" in cases
    assert cases == expected | variants


def test_every_optimizer_descends_and_round_trips_its_state():
    registry = Registry(load_plugins(use_env=False))
    report = run_suite(registry, checker="optimizer_quadratic")
    assert {case.case.subject.name for case in report.cases} == set(registry.names("optimizer"))
    for case in report.cases:
        assert [r.parameter for r in case.results] == ["descent", "state_dict", "state_layout"]
        assert case.status == "passed", [r.describe() for r in case.results]


def test_the_worst_result_is_the_one_nearest_its_tolerance():
    report = run_suite(Registry(load_plugins(use_env=False)), plugin="backprop", checker="central_difference")
    dense = next(c for c in report.cases if c.case.subject.label == "backprop:dense")
    assert dense.worst.error == max(r.error for r in dense.results)
    row = dense.as_dict()
    assert row["worst_error"] == dense.worst.error and row["worst_parameter"] == dense.worst.parameter


# --------------------------------------------------------------- a second engine


class MirrorEngine(BackpropEngine):
    """A second engine made of the backprop classes: the cross-engine check must pass."""

    name = "mirror"


class SkewedEngine(BackpropEngine):
    """Reports weight gradients 1e-9 too large: invisible to central differences."""

    name = "skewed"

    def layer_gradients(self, layer, x, upstream):
        d_input, grads = super().layer_gradients(layer, x, upstream)
        return d_input, {k: g * (1 + 1e-9) if k == "W" else g for k, g in grads.items()}


class EnginePlugin:
    """Registers ``engine`` with backprop's dense, relu, tanh and softmax cross-entropy."""

    def __init__(self, engine_class, dense=Dense):
        self.engine_class, self.dense = engine_class, dense

    @hookimpl
    def harness_register_engines(self, register):
        register(self.engine_class.name, self.engine_class)

    @hookimpl
    def harness_register_layers(self, register):
        register("dense", self.dense, engine=self.engine_class.name)

    @hookimpl
    def harness_register_activations(self, register):
        register("relu", ReLU, engine=self.engine_class.name)
        register("tanh", Tanh, engine=self.engine_class.name)

    @hookimpl
    def harness_register_losses(self, register):
        register("softmax_cross_entropy", SoftmaxCrossEntropy, engine=self.engine_class.name)


def test_a_name_in_two_engines_becomes_one_cross_engine_subject():
    registry = registry_with(("mirror", EnginePlugin(MirrorEngine)))
    spanning = {s.label for s in collect_subjects(registry) if "mirror" in s.engines and len(s.engines) > 1}
    assert {"backprop+mirror:dense", "backprop+mirror:relu", "backprop+mirror:tanh",
            "backprop+mirror:softmax_cross_entropy"} <= spanning


def test_engines_that_agree_pass_the_cross_engine_check():
    report = run_suite(registry_with(("mirror", EnginePlugin(MirrorEngine))), plugin="mirror", checker="cross_engine")
    labels = {case.case.subject.label: case for case in report.cases}
    dense = labels["backprop+mirror:dense"]
    assert report.passed, report.failures
    assert {r.parameter for r in dense.results} == {
        "output (mirror vs backprop)", "input (mirror vs backprop)", "W (mirror vs backprop)", "b (mirror vs backprop)"
    }
    assert all(r.error < 1e-10 and r.tolerance == 1e-10 for r in dense.results)
    loss = labels["backprop+mirror:softmax_cross_entropy"]
    assert {r.parameter for r in loss.results} == {"value (mirror vs backprop)", "input (mirror vs backprop)"}


class XavierDense(Dense):
    """Draws its initial weights differently: the check must compare on copied weights."""

    def __init__(self, units: int, init: str = "xavier"):
        super().__init__(units, init=init)


XavierDense.check_options = {"units": 3}


def test_cross_engine_compares_on_identical_weights_even_if_engines_initialise_differently():
    registry = registry_with(("mirror", EnginePlugin(MirrorEngine, dense=XavierDense)))
    report = run_suite(registry, plugin="mirror", checker="cross_engine")
    assert report.passed, report.failures


def test_a_gradient_off_by_one_part_in_a_billion_passes_central_differences_but_not_the_exact_checks():
    registry = registry_with(("skewed", EnginePlugin(SkewedEngine)))
    report = run_suite(registry, plugin="skewed")
    by_id = {case.case.id: case for case in report.cases}
    assert by_id["skewed:dense-central_difference"].status == "passed"
    assert by_id["skewed:dense-complex_step"].status == "failed"
    cross = by_id["backprop+skewed:dense-cross_engine"]
    assert cross.status == "failed"
    assert [r.parameter for r in cross.results if r.failed] == ["W (skewed vs backprop)"]
    assert not report.passed


# ------------------------------------------------------- components that are wrong


def test_the_broken_fixture_fails_naming_component_parameter_and_error(monkeypatch):
    monkeypatch.syspath_prepend(str(BROKEN_FIXTURE))
    importlib.invalidate_caches()
    try:
        report = run_suite(Registry(load_plugins(use_env=False)), plugin="broken")
    finally:
        sys.modules.pop("harness_broken_fixture", None)
    assert not report.passed
    failed = report.failures
    assert {(r.component, r.parameter) for r in failed} == {("backprop:broken_dense", "b")}
    message = next(r for r in failed if r.check == "central_difference").describe()
    assert message.startswith("backprop:broken_dense [central_difference] b: relative error ")
    assert message.endswith("(tolerance 1e-07) FAILED")
    assert all(r.error > 0.1 for r in failed)


class Ascent:
    """An optimizer with the sign wrong, whose state_dict hands out its live arrays."""

    kind = "ascent"

    def __init__(self, lr: float):
        self.lr = lr
        self.slots: dict = {}

    def step(self, named):
        for name, value, grad in named:
            count = self.slots.setdefault(name, {"count": np.zeros(1)})["count"]
            count += 1
            value += self.lr * grad * count

    def state_dict(self):
        return {"steps": 0, "slots": self.slots, "extra": 1}

    def load_state_dict(self, state):
        self.slots = {k: {s: a.copy() for s, a in v.items()} for k, v in state["slots"].items()}


class AscentPlugin:
    @hookimpl
    def harness_register_optimizers(self, register):
        register("ascent", Ascent)


def test_a_wrong_optimizer_fails_descent_round_trip_and_layout():
    report = run_suite(registry_with(("ascent", AscentPlugin())), plugin="ascent")
    (case,) = report.cases
    results = {r.parameter: r for r in case.results}
    assert results["descent"].failed and "loss" in results["descent"].detail
    assert results["descent"].describe().startswith("ascent [optimizer_quadratic] descent: loss ratio ")
    assert results["state_dict"].failed  # the snapshot changed under later steps
    assert results["state_layout"].failed and "got keys ['extra', 'slots', 'steps']" in results["state_layout"].detail


class Exploding:
    """A layer whose forward pass raises: the suite reports it and goes on."""

    kind = "exploding"

    def __init__(self):
        self.params, self.grads = {}, {}

    def build(self, input_dim, rng, dtype):
        return input_dim

    def forward(self, x, train=True):
        raise RuntimeError("kaboom\nsecond line")


class ExplodingPlugin:
    @hookimpl
    def harness_register_layers(self, register):
        register("exploding", Exploding, engine="backprop")


def test_a_component_that_raises_is_a_failed_check_not_a_crashed_suite():
    report = run_suite(registry_with(("exploding", ExplodingPlugin())), plugin="exploding")
    assert [c.status for c in report.cases] == ["failed", "failed", "failed"]
    assert report.failures[0].describe() == (
        "backprop:exploding [central_difference] -: RuntimeError: kaboom FAILED"
    )


class NeedsUnits(Dense):
    """A layer with a required option and no ``check_options``: checks cannot build it."""


NeedsUnits.check_options = {}


class NeedsUnitsPlugin:
    @hookimpl
    def harness_register_layers(self, register):
        register("needs_units", NeedsUnits, engine="backprop")


def test_a_required_option_without_check_options_fails_with_a_hint():
    report = run_suite(registry_with(("needs", NeedsUnitsPlugin())), plugin="needs", checker="central_difference")
    assert report.failures[0].detail == (
        "ConfigError: backprop:needs_units: layer 'needs_units' needs 'units'; "
        "give NeedsUnits a check_options dict of the options checks should use"
    )


# ------------------------------------------------------------------- selection


def test_unknown_plugin_lists_the_loaded_ones():
    with pytest.raises(PluginError, match=r"^unknown plugin 'nosuch'; loaded: .*backprop.*gradcheck"):
        run_suite(Registry(load_plugins(use_env=False)), plugin="nosuch")


def test_a_plugin_without_components_or_checkers_is_an_error():
    with pytest.raises(PluginError, match=r"^plugin 'progress' provides no layer, activation, loss, optimizer, "
                                          r"schedule, dataset or gradient checker"):
        select_cases(Registry(load_plugins(use_env=False)), plugin="progress")


def test_unknown_checker_lists_the_known_ones():
    with pytest.raises(PluginError, match=r"^unknown gradient checker 'nope'; known: central_difference, complex_step"):
        select_cases(Registry(load_plugins(use_env=False)), checker="nope")


class OnlyChecker:
    """A plugin that brings a checker and nothing to check: it runs over every component."""

    @hookimpl
    def harness_register_gradient_checkers(self, register):
        register("counts_parameters", CountsParameters)


class CountsParameters:
    name = "counts_parameters"

    def applies_to(self, subject):
        return subject.kind == "layer"

    def check(self, subject):
        component = subject.build()
        component.build(5, np.random.default_rng(0), np.float64)
        return [CheckResult(subject.label, self.name, "count", float(len(component.params)), 10.0)]


def test_a_checker_plugin_is_checked_by_running_its_checker_on_every_component():
    registry = registry_with(("counter", OnlyChecker()))
    cases = select_cases(registry, plugin="counter")
    assert {case.checker_name for case in cases} == {"counts_parameters"}
    assert "backprop:dense-counts_parameters" in {case.id for case in cases}
    assert run_suite(registry, plugin="counter").passed


# -------------------------------------------------------------- complex step


class RealOnlyEngine(BackpropEngine):
    """Casts inputs to float64, as an engine built on real arrays would."""

    name = "realonly"

    def layer_forward(self, layer, x):
        return super().layer_forward(layer, np.real(x).astype(np.float64))


def test_complex_step_is_skipped_with_the_reason_where_it_cannot_apply():
    result, = ComplexStep().check_layer("realonly:tanh", Tanh(), RealOnlyEngine())
    assert result.skipped and not result.passed and not result.failed
    assert "returns float64, dropping the imaginary part" in result.detail

    class NotAnalytic(Tanh):
        complex_step = False

    result, = ComplexStep().check_layer("backprop:not_analytic", NotAnalytic(), BackpropEngine())
    assert result.skipped and "declares complex_step = False" in result.detail


def test_complex_step_reaches_machine_precision_where_central_differences_cannot():
    results = ComplexStep().check_layer("backprop:dense", Dense(units=3), BackpropEngine())
    assert sorted(r.parameter for r in results) == ["W", "b", "input"]
    assert max(r.error for r in results) < 1e-14


def test_cross_engine_checker_applies_only_to_names_in_several_engines():
    registry = Registry(load_plugins(use_env=False))
    subjects = {s.label: s for s in collect_subjects(registry)}
    assert not CrossEngine().applies_to(subjects["backprop:dense"])


# --------------------------------------------------------------- the record


def test_check_result_keeps_its_positional_form_and_is_json_safe():
    result = CheckResult("backprop:dense", "central_difference", "W", 2e-10, 1e-7)
    assert result.passed and result.status == "passed" and not result.skipped
    assert result.describe() == "backprop:dense [central_difference] W: relative error 2.00e-10 (tolerance 1e-07) ok"
    failed = CheckResult("x", "c", "p", float("inf"), 1e-7, "why")
    assert failed.failed and json.loads(json.dumps(failed.as_dict()))["error"] is None
    assert CheckResult("x", "c", "p", float("nan"), 1e-7).failed

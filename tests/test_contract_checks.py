"""``harness check`` enforces every contract: schedules, datasets, real optimizer progress,
loss options, bit-identical resume of every layer.

Each check is shown passing on the built-ins and failing on a component that breaks the
contract in one way, with the one-line reason a plugin author reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from harness import DataError, Splits, hookimpl
from harness.conformance import collect_subjects, run_suite, select_cases
from harness.errors import PluginError
from harness.plugins import load_plugins
from harness.registry import Registry
from harness_backprop.layers import Dense
from harness_backprop.losses import SoftmaxCrossEntropy
from harness_backprop.model import BackpropEngine


def registry_with(*plugins, builtins=("backprop", "optim", "gradcheck")) -> Registry:
    """The named built-in plugins plus ``(name, plugin object)`` pairs."""
    pm = load_plugins(set(builtins), use_env=False)
    for name, plugin in plugins:
        pm.register_plugin(plugin, name, f"{name} = tests.test_contract_checks")
    return Registry(pm)


def results_of(registry: Registry, plugin: str, checker: str) -> dict[str, dict[str, object]]:
    """``{component label: {aspect: CheckResult}}`` of one checker over one plugin."""
    report = run_suite(registry, plugin=plugin, checker=checker)
    return {case.case.subject.label: {r.parameter: r for r in case.results} for case in report.cases}


class Registers:
    """A plugin object registering ``(kind, name, factory, engine)`` tuples."""

    def __init__(self, *entries):
        self.entries = entries

    def _register(self, kind, register):
        for entry_kind, name, factory, engine in self.entries:
            if entry_kind == kind:
                register(name, factory, **({"engine": engine} if engine else {}))

    @hookimpl
    def harness_register_layers(self, register):
        self._register("layer", register)

    @hookimpl
    def harness_register_losses(self, register):
        self._register("loss", register)

    @hookimpl
    def harness_register_optimizers(self, register):
        self._register("optimizer", register)

    @hookimpl
    def harness_register_schedules(self, register):
        self._register("schedule", register)

    @hookimpl
    def harness_register_datasets(self, register):
        self._register("dataset", register)


# =============================================================== schedules


def test_schedules_are_subjects_and_the_builtins_pass():
    registry = Registry(load_plugins(use_env=False))
    report = run_suite(registry, checker="schedule_contract")
    assert {c.case.subject.name for c in report.cases} == set(registry.names("schedule")) >= {"constant", "step", "cosine"}
    assert all(c.case.subject.kind == "schedule" for c in report.cases)
    assert report.passed, report.failures
    cosine = next(c for c in report.cases if c.case.subject.name == "cosine")
    assert [r.parameter for r in cosine.results] == ["signature", "rates", "epoch 0", "pure"]


class CosineFromOne:
    """Cosine decay written for epochs counted from 1: its first epoch is already past the peak."""

    def __init__(self, min_lr: float = 0.001):
        self.min_lr = min_lr

    def lr(self, base_lr, epoch, total_epochs):
        progress = (epoch + 1) / (total_epochs + 1)
        return self.min_lr + 0.5 * (base_lr - self.min_lr) * (1 + np.cos(np.pi * progress))


class LinearToZero:
    """Reaches exactly zero at the last epoch: a step that does nothing."""

    def lr(self, base_lr, epoch, total_epochs):
        return base_lr * (1 - epoch / max(total_epochs - 1, 1))


class Exploding:
    def lr(self, base_lr, epoch, total_epochs):
        return base_lr * 2.0 ** epoch


class ReturnsNothing:
    def lr(self, base_lr, epoch, total_epochs):
        base_lr * 0.9 ** epoch  # the return was forgotten


class WrongSignature:
    def lr(self, epoch):
        return 0.1


class CountsCalls:
    """Decays with the number of times it was asked: a resumed run gets other rates."""

    def __init__(self):
        self.calls = 0

    def lr(self, base_lr, epoch, total_epochs):
        self.calls += 1
        return base_lr * 0.999 ** (self.calls - 1)


class ZeroBetweenEpochs:
    """Positive at whole epochs only: fine once per epoch, wrong before every step."""

    def lr(self, base_lr, epoch, total_epochs):
        return base_lr if float(epoch).is_integer() else 0.0


class ZeroBetweenEpochsPerStep(ZeroBetweenEpochs):
    per_step = True


class WarmUp:
    """Linear warm-up over the first epoch, asked before every step: it rises, so epoch 0 is exempt."""

    per_step = True

    def lr(self, base_lr, epoch, total_epochs):
        return base_lr * min(1.0, (epoch + 0.1) / 1.1)


SCHEDULES = Registers(*[
    ("schedule", name, cls, None)
    for name, cls in [
        ("from_one", CosineFromOne), ("to_zero", LinearToZero), ("exploding", Exploding), ("nothing", ReturnsNothing),
        ("signature", WrongSignature),
        ("counts_calls", CountsCalls), ("zero_between", ZeroBetweenEpochs),
        ("zero_between_per_step", ZeroBetweenEpochsPerStep), ("warm_up", WarmUp),
    ]
])


def test_each_broken_schedule_fails_the_aspect_it_breaks_with_a_reason():
    results = results_of(registry_with(("sched", SCHEDULES)), "sched", "schedule_contract")
    failed = {label: sorted(a for a, r in aspects.items() if r.failed) for label, aspects in results.items()}
    assert failed == {
        "from_one": ["epoch 0"],
        "to_zero": ["rates"],
        "exploding": ["rates"],
        "nothing": ["rates"],
        "signature": ["signature"],
        "counts_calls": ["epoch 0", "pure"],
        "zero_between": [],
        "zero_between_per_step": ["rates"],
        "warm_up": [],
    }
    assert results["from_one"]["epoch 0"].describe() == (
        "from_one [schedule_contract] epoch 0: a schedule that only decays must start at the base rate, but "
        "lr(0.1, 0, 1) = 0.0505 (are epochs counted from 1? the loop counts them from 0) FAILED"
    )
    assert results["to_zero"]["rates"].detail == "lr(0.1, 1, 2) = 0, not positive (a step with rate 0 does nothing)"
    assert results["exploding"]["rates"].detail == "lr(0.1, 7, 10) = 12.8, more than 10 (100 times the base rate)"
    assert results["nothing"]["rates"].detail == "lr(0.1, 0, 1) returned NoneType None, not a number"
    assert results["signature"]["signature"].detail.startswith("lr cannot be called as lr(base_lr, epoch, total_epochs): ")
    assert "a fresh schedule asked from epoch 50 (as after a resume)" in results["counts_calls"]["pure"].detail
    assert results["zero_between_per_step"]["rates"].detail.startswith("lr(0.1, 0.142857, 1) = 0, not positive")
    assert results["warm_up"]["epoch 0"].detail == "the rate rises during a 1-epoch run (warm-up): exempt"


# ================================================================ datasets


def test_datasets_are_subjects_and_the_synthetic_ones_pass():
    cases = {c.subject.name: c for c in select_cases(registry_with(builtins=("datasets", "gradcheck")), checker="dataset_contract")}
    assert set(cases) == {"blobs", "moons", "mnist", "fashion_mnist"}
    for name in ("blobs", "moons"):
        report = cases[name].run()
        assert report.status == "passed", [r.describe() for r in report.results]
        assert [r.parameter for r in report.results] == ["fetch", "splits", "dtypes", "labels", "determinism"]
        assert report.results[0].detail == "nothing to fetch (generated)"


class FileDataset:
    """A dataset with one cached file: ``fetch`` writes it once; the rest is seeded."""

    input_dim, num_classes = 3, 2

    def __init__(self, root: str, n: int = 20, seed: int = 0):
        self.root, self.n, self.seed = Path(root), n, seed

    def fetch(self):
        path = self.root / "data.bin"
        if not path.exists():
            path.write_bytes(b"examples")
        return {"data": path}

    def load(self) -> Splits:
        self.fetch()
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.input_dim)).astype(np.float32)
        y = rng.integers(0, self.num_classes, self.n)
        third = self.n // 3
        return Splits(x[:third], y[:third], x[third:2 * third], y[third:2 * third], x[2 * third:], y[2 * third:])


class Redownloads(FileDataset):
    def fetch(self):
        path = self.root / "data.bin"
        tmp = self.root / "data.tmp"
        tmp.write_bytes(b"examples")
        os.replace(tmp, path)  # a new file every time, as a fresh download would be
        return {"data": path}


class WrongWidth(FileDataset):
    def load(self):
        s = super().load()
        return Splits(s.train_x[:, :2], s.train_y, s.val_x, s.val_y, s.test_x, s.test_y)


class LabelsFromOne(FileDataset):
    def load(self):
        s = super().load()
        return Splits(s.train_x, s.train_y + 1, s.val_x, s.val_y + 1, s.test_x, s.test_y + 1)


class FloatLabels(FileDataset):
    def load(self):
        s = super().load()
        return Splits(s.train_x, s.train_y.astype(np.float32), s.val_x, s.val_y, s.test_x, s.test_y)


class Unseeded(FileDataset):
    def load(self):
        self.seed = int(np.random.default_rng().integers(2**32))
        return super().load()


class NoValidation(FileDataset):
    def load(self):
        s = super().load()
        return Splits(s.train_x, s.train_y, s.val_x[:0], s.val_y[:0], s.test_x, s.test_y)


class NotCached(FileDataset):
    def fetch(self):
        raise DataError(f"{self.root}/data.bin is not in the cache and offline=True")


@pytest.fixture
def dataset_registry(tmp_path):
    entries = []
    for name, cls in [("good", FileDataset), ("redownloads", Redownloads), ("wrong_width", WrongWidth),
                      ("labels_from_one", LabelsFromOne), ("float_labels", FloatLabels), ("unseeded", Unseeded),
                      ("no_validation", NoValidation), ("not_cached", NotCached)]:
        (tmp_path / name).mkdir()
        factory = type(f"{cls.__name__}Factory", (cls,), {"check_options": {"root": str(tmp_path / name)}})
        entries.append(("dataset", name, factory, None))
    return registry_with(("data", Registers(*entries)))


def test_each_broken_dataset_fails_the_aspect_it_breaks_with_a_reason(dataset_registry):
    results = results_of(dataset_registry, "data", "dataset_contract")
    failed = {label: sorted(a for a, r in aspects.items() if r.failed) for label, aspects in results.items()}
    assert failed == {
        "good": [], "redownloads": ["fetch"], "wrong_width": ["splits"], "labels_from_one": ["labels"],
        "float_labels": ["dtypes"], "unseeded": ["determinism"], "no_validation": ["splits"], "not_cached": [],
    }
    assert results["good"]["fetch"].detail == "a second fetch() returned the same 1 files untouched"
    assert results["redownloads"]["fetch"].detail.startswith("a second fetch() wrote 'data' again")
    assert results["wrong_width"]["splits"].detail == "train features are (6, 2); expected (n, 3) as input_dim declares"
    assert results["labels_from_one"]["labels"].detail == "train labels span [1, 2]; num_classes = 2 allows [0, 1]"
    assert results["float_labels"]["dtypes"].detail == "train labels are float32; expected integer class indices"
    assert results["no_validation"]["splits"].detail == "the val split is empty; a run needs examples in train, val and test"
    assert results["unseeded"]["determinism"].detail.startswith("two datasets from the same options load different train features")
    (skip,) = results["not_cached"].values()
    assert skip.skipped and skip.detail.startswith("not available offline: ") and "harness data fetch not_cached" in skip.detail


def _no_downloads(monkeypatch):
    """Any attempt to download MNIST fails the test."""
    import harness_datasets.mnist as mnist
    import harness_datasets.sources as sources

    def forbidden(*args, **kwargs):
        raise AssertionError("the check tried to download")

    monkeypatch.setattr(sources, "download", forbidden)
    monkeypatch.setattr(mnist, "pip_download_wheel", forbidden)


def test_an_image_dataset_without_its_files_is_skipped_with_the_reason_and_nothing_is_downloaded(tmp_path, monkeypatch):
    _no_downloads(monkeypatch)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    report = run_suite(registry_with(builtins=("datasets", "gradcheck")), plugin="datasets", checker="dataset_contract")
    mnist = next(c for c in report.cases if c.case.subject.name == "mnist")
    assert mnist.status == "skipped"
    (reason,) = {r.detail for r in mnist.results}
    assert reason.startswith("not available offline: MNIST: could not obtain train-images-idx3-ubyte")
    assert "(offline=True: nothing is downloaded); `harness data fetch mnist` caches its files" in reason
    assert report.passed  # a skip is no failure


MNIST_CACHE = Path(os.environ.get("HARNESS_DATA_DIR") or Path.home() / ".cache" / "harness") / "mnist"


@pytest.mark.skipif(not (MNIST_CACHE / "train-images-idx3-ubyte").is_file(), reason="MNIST is not in the cache")
def test_mnist_from_the_cache_passes_on_a_few_examples_without_downloading(monkeypatch):
    _no_downloads(monkeypatch)
    report = run_suite(registry_with(builtins=("datasets", "gradcheck")), plugin="datasets", checker="dataset_contract")
    mnist = next(c for c in report.cases if c.case.subject.name == "mnist")
    assert mnist.status == "passed", [r.describe() for r in mnist.results]
    details = {r.parameter: r.detail for r in mnist.results}
    assert details["splits"] == "train/val/test 200/100/100 examples of 784 features"
    assert details["fetch"] == "a second fetch() returned the same 4 files untouched"


# =========================================================== optimizers


class Timid:
    """Steps 1e-7·g whatever its rate: no run would ever train, yet the loss never rises."""

    def __init__(self, lr: float = 0.01):
        self.lr, self.steps = lr, 0

    def step(self, named):
        self.steps += 1
        for _, value, grad in named:
            value -= 1e-7 * grad

    def state_dict(self):
        return {"steps": self.steps, "slots": {}}

    def load_state_dict(self, state):
        self.steps = state["steps"]


class Backtracking:
    """Gradient descent that halves its step until the closure's loss goes down."""

    uses_closure = True

    def __init__(self, lr: float = 0.5):
        self.lr, self.steps = lr, 0

    def step(self, named, closure):
        self.steps += 1
        before, t = closure(), self.lr
        start = [value.copy() for _, value, _ in named]
        for _ in range(5):
            for (_, value, grad), w in zip(named, start):
                np.subtract(w, t * grad, out=value)
            if closure() < before:
                return
            t /= 2
        for (_, value, _), w in zip(named, start):
            value[...] = w

    def state_dict(self):
        return {"steps": self.steps, "slots": {}}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def test_an_optimizer_that_barely_moves_fails_the_descent_check():
    results = results_of(registry_with(("timid", Registers(("optimizer", "timid", Timid, None)))), "timid",
                         "optimizer_quadratic")
    descent = results["timid"]["descent"]
    assert descent.failed and descent.error > 0.99
    assert descent.describe().startswith("timid [optimizer_quadratic] descent: loss ratio 1.00e+00 (tolerance 1e-01); ")
    assert descent.detail.endswith("in 1000 steps at lr 0.01; a working optimizer divides the loss by 10 or more here")


def test_the_builtin_optimizers_divide_the_loss_by_far_more_than_ten():
    report = run_suite(Registry(load_plugins({"optim", "gradcheck"}, use_env=False)), checker="optimizer_quadratic")
    ratios = {c.case.subject.name: next(r.error for r in c.results if r.parameter == "descent") for c in report.cases}
    gradient = {name: ratio for name, ratio in ratios.items() if name != "random_search"}
    assert set(gradient) == {"sgd", "momentum", "nesterov", "adam"}
    assert max(gradient.values()) < 1e-4, ratios
    # Gradient-free random search passes the check (a tenth of the loss or less) and no more: the chapter's point.
    assert 1e-4 < ratios["random_search"] < 0.1, ratios


def test_a_closure_optimizer_is_called_with_a_closure():
    results = results_of(registry_with(("bt", Registers(("optimizer", "backtracking", Backtracking, None)))), "bt",
                         "optimizer_quadratic")
    aspects = results["backtracking"]
    assert all(r.passed for r in aspects.values()), [r.describe() for r in aspects.values()]
    assert "loss evaluations)" in aspects["descent"].detail


# ================================================================== losses


class SmoothingForgotten(SoftmaxCrossEntropy):
    """Smooths the loss but forgets the smoothing in its gradient."""

    check_variants = [{"label_smoothing": 0.1}]

    def backward(self):
        eps, self.label_smoothing = self.label_smoothing, 0.0
        try:
            return super().backward()
        finally:
            self.label_smoothing = eps


def test_a_loss_is_checked_with_each_of_its_check_variants():
    registry = registry_with(("smooth", Registers(("loss", "forgets", SmoothingForgotten, "backprop"))))
    results = results_of(registry, "smooth", "central_difference")
    assert set(results) == {"backprop:forgets", "backprop:forgets(label_smoothing=0.1)"}
    assert results["backprop:forgets"]["input"].passed
    variant = results["backprop:forgets(label_smoothing=0.1)"]["input"]
    assert variant.failed and variant.describe().startswith(
        "backprop:forgets(label_smoothing=0.1) [central_difference] input: relative error ")


def test_label_smoothing_of_the_builtin_losses_is_checked_in_and_across_engines():
    registry = Registry(load_plugins({"backprop", "autograd", "gradcheck"}, use_env=False))
    ids = {case.id: case for case in select_cases(registry)}
    for case_id in ("backprop:softmax_cross_entropy(label_smoothing=0.1)-central_difference",
                    "autograd:softmax_cross_entropy(label_smoothing=0.1)-complex_step",
                    "autograd+backprop:softmax_cross_entropy(label_smoothing=0.1)-cross_engine"):
        report = ids[case_id].run()
        assert report.status == "passed", [r.describe() for r in report.results]
    assert not any(i.startswith("scalar:softmax_cross_entropy(") for i in ids)  # scalar has no smoothing


def test_malformed_check_variants_are_a_one_line_plugin_error():
    class Loss(SoftmaxCrossEntropy):
        check_variants = {"label_smoothing": 0.1}

    registry = registry_with(("bad", Registers(("loss", "bad", Loss, "backprop"))))
    with pytest.raises(PluginError, match=r"^plugin 'bad': loss 'backprop:bad' has check_variants \{'label_smoothing': "
                                          r"0\.1\}; it must be a list of option dicts$"):
        collect_subjects(registry)


# ================================================================== resume


def test_every_layer_and_activation_of_every_engine_resumes_bit_for_bit():
    registry = Registry(load_plugins(use_env=False))
    report = run_suite(registry, checker="resume")
    expected = {f"{e.engine}:{e.name}" for kind in ("layer", "activation") for e in registry.entries(kind)}
    assert {c.case.subject.label for c in report.cases} == expected
    assert report.passed, [r.describe() for r in report.failures]
    by_label = {c.case.subject.label: {r.parameter for r in c.results} for c in report.cases}
    assert by_label["backprop:batch_norm"] == {"parameters", "buffers", "outputs"}
    assert by_label["autograd:dropout"] == {"parameters", "generators", "outputs"}
    assert by_label["backprop:residual"] == {"parameters", "outputs"}


class Annealed(Dense):
    """A dense layer whose output shrinks with a step counter nobody saves."""

    check_options = {"units": 3}

    def build(self, input_dim, rng, dtype):
        self.calls = 0
        return super().build(input_dim, rng, dtype)

    def forward(self, x, train=True):
        if train:
            self.calls += 1
        self.scale = 1.0 / (1.0 + 0.1 * self.calls)
        return super().forward(x, train) * self.scale

    def backward(self, dz):
        return super().backward(dz * self.scale)


class PrivateNoise:
    """Noise from a generator that is no RandomLayer (no ``reseed``): checkpoints skip it."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.rng = np.random.default_rng(0)

    def build(self, input_dim, rng, dtype):
        self.rng = np.random.default_rng(int(rng.integers(2**32)))
        return input_dim

    def forward(self, x, train=True):
        self.noise = 1.0 + 0.1 * self.rng.standard_normal(x.shape) if train else 1.0
        return x * self.noise

    def backward(self, dout):
        return dout * self.noise


def test_a_layer_with_state_outside_params_buffers_and_rng_fails_the_resume_check_in_one_line():
    plugin = Registers(("layer", "annealed", Annealed, "backprop"), ("layer", "private_noise", PrivateNoise, "backprop"))
    report = run_suite(registry_with(("hidden", plugin)), plugin="hidden", checker="resume")
    cases = {c.case.subject.label: c for c in report.cases}
    assert not report.passed
    annealed = cases["backprop:annealed"]
    assert annealed.status == "failed"
    message = next(r for r in annealed.results if r.parameter == "parameters").describe()
    assert "\n" not in message
    assert message.startswith("backprop:annealed [resume] parameters: max |resumed - uninterrupted| ")
    assert message.endswith(
        "param/0.dense.W differs after the resume: the layer keeps state that checkpoints do not save (only params, "
        "buffers of a BufferedLayer and rng of a RandomLayer are saved) FAILED")
    noise = next(r for r in cases["backprop:private_noise"].results if r.failed)
    assert "layer 1.privatenoise has an rng but no reseed(seed), so checkpoints do not save it" in noise.detail


def test_a_resumable_third_party_layer_passes():
    class Noise(PrivateNoise):
        def reseed(self, seed):
            self.rng = np.random.default_rng(seed)

    report = run_suite(registry_with(("ok", Registers(("layer", "noise", Noise, "backprop")))), plugin="ok", checker="resume")
    assert report.passed, [r.describe() for r in report.failures]


def test_the_resume_check_needs_no_dense_layer_in_the_engine():
    class Bare(BackpropEngine):
        name = "bare"

    class BarePlugin(Registers):
        @hookimpl
        def harness_register_engines(self, register):
            register("bare", Bare)

    plugin = BarePlugin(("layer", "annealed", Annealed, "bare"), ("loss", "softmax_cross_entropy", SoftmaxCrossEntropy, "bare"))
    results = results_of(registry_with(("bare", plugin)), "bare", "resume")
    assert results["bare:annealed"]["parameters"].failed

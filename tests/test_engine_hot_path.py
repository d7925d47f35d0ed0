"""The backprop engine's training step: no allocations, packed parameters, safe reuse.

Speed itself is measured by ``benchmarks/`` (never asserted here); these tests pin down
the properties the speed rests on, each of which a refactoring could quietly lose.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from harness import build_stack
from harness.training.batching import gather_rows
from harness_backprop import BackpropEngine, Dense, Dropout, ReLU, SequentialModel, SoftmaxCrossEntropy, Tanh
from harness_optim import SGD, Adam, Momentum, Nesterov


def layers(dropout: float = 0.0) -> list:
    stack = [Dense(64), ReLU(), Dense(32), Tanh(), Dense(10, init="xavier")]
    if dropout:
        stack.insert(2, Dropout(dropout))
    return stack


def build(packed: bool = True, dropout: float = 0.0, dtype=np.float32) -> SequentialModel:
    if packed:
        return BackpropEngine().build_model(layers(dropout), SoftmaxCrossEntropy(0.1), input_dim=784,
                                            rng=np.random.default_rng(0), dtype=dtype)
    stack = layers(dropout)
    build_stack(stack, 784, np.random.default_rng(0), dtype)
    return SequentialModel(stack, SoftmaxCrossEntropy(0.1))


def data(n: int = 600, dtype=np.float32):
    rng = np.random.default_rng(1)
    return rng.random((n, 784)).astype(dtype), rng.integers(0, 10, n)


def test_a_warm_training_step_allocates_no_arrays():
    """Gather, forward, loss, backward and update reuse their arrays. After two warm-up
    steps of the default model (784-256-128-10, here with dropout), whose every layer
    array is 64 kB or more, a step's peak of newly traced memory is NumPy's 32 kB
    iterator buffer of a broadcasting ufunc (the bias add) plus small temporaries (the
    loss's picked logits, scalars): it once allocated about 2 MB per step."""
    stack = [Dense(256), ReLU(), Dropout(0.2), Dense(128), ReLU(), Dense(10, init="xavier")]
    model = BackpropEngine().build_model(stack, SoftmaxCrossEntropy(0.1), input_dim=784,
                                         rng=np.random.default_rng(0), dtype=np.float32)
    optimizer = Momentum(0.05)
    x, y = data()
    buffer = np.empty((128, 784), dtype=np.float32)
    order = np.random.default_rng(2).permutation(len(y))
    params = model.named_parameters()

    def step(i: int) -> None:
        index = order[(i * 128) % 384:(i * 128) % 384 + 128]
        model.train_batch(gather_rows(x, index, buffer), y[index])
        optimizer.step(params)

    step(0)
    step(1)
    tracemalloc.start()
    try:
        for i in range(2, 40):  # NumPy's and Python's small-object caches fill up, traced
            step(i)
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for i in range(40, 50):
            step(i)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < 48_000, f"a training step allocated up to {peak - before} bytes at once"
    assert after - before < 1_000, f"{after - before} bytes more held after ten steps"


def test_gather_rows_copies_once_into_the_buffer():
    x, _ = data(50)
    out = np.empty((16, 784), dtype=np.float32)
    index = np.random.default_rng(0).permutation(50)[:16]
    rows = gather_rows(x, index, out)
    assert np.shares_memory(rows, out) and np.array_equal(rows, x[index])
    short = gather_rows(x, index[:5], out)
    assert short.shape == (5, 784) and np.array_equal(short, x[index[:5]])
    view = gather_rows(x, slice(0, 10), out)
    assert np.shares_memory(view, x) and not np.shares_memory(view, out)


def test_parameters_are_packed_and_updated_as_one_flat_array():
    model, optimizer = build(), Momentum(0.05)
    x, y = data(128)
    model.train_batch(x, y)
    optimizer.step(model.named_parameters())
    (unit,) = optimizer._units(model.named_parameters())
    assert unit[0] == "0.dense.W..4.dense.b" and unit[1].size == sum(v.size for _, v, _ in model.named_parameters())
    # state_dict keeps one entry per parameter, shaped like it
    slots = optimizer.state_dict()["slots"]
    assert {name: s["velocity"].shape for name, s in slots.items()} == {n: v.shape for n, v, _ in model.named_parameters()}


@pytest.mark.parametrize("make", [
    lambda: SGD(0.1, weight_decay=1e-3),
    lambda: Momentum(0.05, clip_norm=0.5),
    lambda: Nesterov(0.05, weight_decay=5e-4, clip_value=0.01),
    lambda: Adam(0.002, weight_decay=1e-4),
])
def test_packed_updates_are_bitwise_those_of_one_parameter_at_a_time(make):
    x, y = data()
    trained = []
    for packed in (True, False):
        model, optimizer = build(packed, dropout=0.3), make()
        params = model.named_parameters()
        for step in range(230):  # past the subnormal flush at step 100 and 200
            index = slice((step * 100) % 500, (step * 100) % 500 + 100)
            model.train_batch(x[index], y[index])
            optimizer.step(params)
        trained.append(([value.copy() for _, value, _ in params], optimizer.state_dict()))
    (packed_weights, packed_state), (plain_weights, plain_state) = trained
    assert all(np.array_equal(a, b) for a, b in zip(packed_weights, plain_weights))
    for name, slots in plain_state["slots"].items():
        assert all(np.array_equal(slots[k], packed_state["slots"][name][k]) for k in slots)


def test_a_restored_packed_optimizer_continues_identically():
    x, y = data()

    def steps(model, optimizer, start, stop):
        for step in range(start, stop):
            index = slice((step * 100) % 500, (step * 100) % 500 + 100)
            model.train_batch(x[index], y[index])
            optimizer.step(model.named_parameters())

    model, optimizer = build(), Adam(0.002)
    steps(model, optimizer, 0, 7)
    saved_weights = [v.copy() for _, v, _ in model.named_parameters()]
    saved_state = optimizer.state_dict()
    steps(model, optimizer, 7, 15)

    again, restored = build(), Adam(0.002)
    for (_, target, _), value in zip(again.named_parameters(), saved_weights):
        np.copyto(target, value)
    restored.load_state_dict(saved_state)
    steps(again, restored, 7, 15)
    assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(model.named_parameters(), again.named_parameters()))


def test_results_handed_out_are_not_overwritten_by_the_next_call():
    """Training-mode arrays are reused between steps; what leaves the engine for a
    caller that keeps it (gradient checks, predictions) is a copy or a new array."""
    engine, model = BackpropEngine(), build()
    x, y = data(20)
    dense = model.layers[0]
    first = engine.layer_forward(dense, x[:10])
    engine.layer_forward(dense, x[10:])
    assert np.allclose(first, x[:10] @ dense.params["W"] + dense.params["b"], atol=1e-5)
    d_first, _ = engine.layer_gradients(model.layers[2], np.ones((4, 64), np.float32), np.ones((4, 32), np.float32))
    engine.layer_gradients(model.layers[2], np.zeros((4, 64), np.float32), np.full((4, 32), 2, np.float32))
    assert np.allclose(d_first, np.ones((4, 32)) @ model.layers[2].params["W"].T)
    _, out_a = model.evaluate(x[:10], y[:10])
    kept = out_a.copy()
    model.evaluate(x[10:], y[10:])
    assert np.array_equal(out_a, kept)


def test_activation_after_a_dense_layer_runs_in_its_buffer():
    model = build()
    assert model._in_place == [False, True, False, True, False]
    x, y = data(16)
    model.train_batch(x, y)
    assert model.layers[1].out is model.layers[0]._scratch.get("z", (16, 64), x.dtype)

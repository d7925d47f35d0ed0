"""How fast the autograd engines are, each against its reference, measured in one run.

1. ``Value`` (the scalar engine) against a plain micrograd-style implementation written
   below: ``Value`` objects whose backward pass is a closure stored on each node,
   children kept in a ``set``, the topological sort recursive. Both train the same
   2-16-16-1 ReLU MLP (same initial weights) on the same 100 two-moons points with the
   same max-margin loss and L2 penalty, one SGD step over all points per step. Steps
   per second are measured with Python's garbage collector at its defaults for both,
   then disabled for both: a closure that captures its own node is a reference cycle,
   so the plain style keeps the collector busy; the second figure is the compute gain
   alone. The two take turns step by step; rates come from the median step in CPU
   time of the benchmark's thread (other processes on a shared machine do not
   count). Whatever garbage a step leaves is collected after it, untimed: memory
   stays flat with the collector off, and the plain style is never charged for a
   collection it would have triggered later. ``value_speedup`` is the smaller of the
   two ratios.
2. The ``autograd`` engine (``Tensor``) against the hand-written ``backprop`` engine on
   the default experiment's model and data (MNIST, 784-256-128-10, batch 128, float32,
   momentum), both built from the same seed (hence the same initial weights) and fed
   the same batches. The machine may be shared, so the two engines take turns every
   ``--block`` steps within each epoch and each one's time is the sum of its own
   blocks: a slow spell hits both. Figures are medians over epochs.

Usage: ``python benchmarks/autograd.py [--epochs N] [--block K] [--value-steps S]``
(add Hydra overrides at the end, e.g. ``model.layers.0.units=512``). The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

import numpy as np
from hydra import compose, initialize_config_dir

from arguments import at_least
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.resources import config_dir
from harness.training.batching import epoch_batches
from harness.training.evaluation import evaluate
from harness.training.experiment import build_parts
from harness_autograd import MLP
from harness_datasets import make_moons

# --------------------------------------------------------------------------------------
# 1. Value against the plain recursive-closure style
# --------------------------------------------------------------------------------------


class ClosureValue:
    """micrograd as it is usually written: a closure per node, recursion to sort."""

    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, ClosureValue) else ClosureValue(other)
        out = ClosureValue(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, ClosureValue) else ClosureValue(other)
        out = ClosureValue(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def relu(self):
        out = ClosureValue(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1.0

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


class ClosureMLP:
    """The same network as :class:`harness_autograd.MLP`, on :class:`ClosureValue`."""

    def __init__(self, mlp: MLP):
        self.layers = [
            [([ClosureValue(w.data) for w in n.w], ClosureValue(n.b.data), n.act) for n in layer.neurons]
            for layer in mlp.layers
        ]

    def __call__(self, x):
        for layer in self.layers:
            outs = []
            for w, b, act in layer:
                out = sum((wi * xi for wi, xi in zip(w, x)), b)
                outs.append(out.relu() if act == "relu" else out)
            x = outs
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for layer in self.layers for w, b, _ in layer for p in (*w, b)]


def train_step(model, params, xs, ys, lr: float = 0.05, alpha: float = 1e-4) -> float:
    """One SGD step on the max-margin loss + L2 penalty (micrograd's moons demo)."""
    scores = [model(x) for x in xs]
    losses = [(1 + -y * score).relu() for y, score in zip(ys, scores)]
    loss = sum(losses) * (1.0 / len(losses)) + alpha * sum(p * p for p in params)
    for p in params:
        p.grad = 0.0
    loss.backward()
    for p in params:
        p.data -= lr * p.grad
    return loss.data


def timed(step) -> float:
    """CPU seconds of one step (this thread's: pure Python, and other processes on a
    shared machine do not count); the garbage it leaves is collected afterwards, untimed."""
    start = time.thread_time()
    step()
    seconds = time.thread_time() - start
    gc.collect()  # keeps memory flat with the collector off; spares the closure style its leftovers
    return seconds


def bench_value(steps_per_setting: int) -> dict:
    x, y = make_moons(100, 0.1, np.random.default_rng(0))
    xs, ys = x.tolist(), (2.0 * y - 1.0).tolist()
    ours = MLP(2, [16, 16, 1], act="relu", seed=1)
    plain = ClosureMLP(ours)
    ours_params, plain_params = ours.parameters(), plain.parameters()
    steps = {
        "value": lambda: train_step(ours, ours_params, xs, ys),
        "closure": lambda: train_step(plain, plain_params, xs, ys),
    }
    losses = [(steps["value"](), steps["closure"]()) for _ in range(3)]
    same = all(abs(a - b) <= 1e-12 * max(1.0, abs(b)) for a, b in losses)
    rates = {}
    for gc_on in (True, False):
        (gc.enable if gc_on else gc.disable)()
        samples = {name: [] for name in steps}
        for r in range(steps_per_setting):  # the two take turns step by step
            for name in (("value", "closure") if r % 2 == 0 else ("closure", "value")):
                samples[name].append(timed(steps[name]))
        rates[gc_on] = {name: 1.0 / statistics.median(s) for name, s in samples.items()}
    gc.enable()
    nodes = count_nodes(ours, ours_params, xs, ys)
    return {"rates": rates, "same_losses": same, "nodes": nodes}


def count_nodes(model, params, xs, ys) -> int:
    scores = [model(x) for x in xs]
    loss = sum((1 + -y * s).relu() for y, s in zip(ys, scores)) * (1.0 / len(xs)) + 1e-4 * sum(p * p for p in params)
    return len(loss.topological_order())


# --------------------------------------------------------------------------------------
# 2. Tensor engine against the hand-written engine on MNIST
# --------------------------------------------------------------------------------------


def build(engine: str, overrides: list[str], registry: Registry):
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="benchmark"):
        cfg = compose("config", overrides=[
            "tracking=none", "progress=never", "paths.project_dir=.", "paths.output_dir=.",
            f"engine={engine}", *overrides,
        ])
    parts = build_parts(cfg, registry)
    s = parts.settings
    init_seed, _ = np.random.SeedSequence(s.seed).spawn(2)
    model = parts.engine.build_model(
        parts.layers, parts.loss, input_dim=parts.dataset.input_dim,
        rng=np.random.default_rng(init_seed), dtype=np.dtype(s.dtype),
    )
    return parts, model


def bench_tensor(epochs: int, block: int, overrides: list[str]) -> dict:
    registry = Registry(load_plugins(use_env=False))
    engines = ("backprop", "autograd")
    built = {name: build(name, overrides, registry) for name in engines}
    parts = built["backprop"][0]
    settings = parts.settings
    splits = parts.dataset.load().astype(np.dtype(settings.dtype))
    same_init = all(
        np.array_equal(a, b) for (_, a, _), (_, b, _) in
        zip(built["backprop"][1].named_parameters(), built["autograd"][1].named_parameters())
    )
    batch = settings.gd.batch_size_for(len(splits.train_y))
    rng = np.random.default_rng(settings.seed)
    base_lr = parts.optimizer.lr
    seconds = {name: [] for name in engines}
    for epoch in range(epochs):
        batches = list(epoch_batches(len(splits.train_y), batch, rng, settings.gd.shuffle))
        spent = dict.fromkeys(engines, 0.0)
        for name in engines:  # the experiment's schedule, stretched over these epochs
            p, _ = built[name]
            p.optimizer.lr = p.schedule.lr(base_lr, epoch, epochs)
        for b, start in enumerate(range(0, len(batches), block)):
            for name in (engines if b % 2 == 0 else engines[::-1]):
                p, model = built[name]
                params = model.named_parameters()
                began = time.perf_counter()
                for index in batches[start:start + block]:
                    model.train_batch(splits.train_x[index], splits.train_y[index])
                    p.optimizer.step(params)
                spent[name] += time.perf_counter() - began
        for name in engines:
            seconds[name].append(spent[name])
    accuracy = {
        name: evaluate(model, splits.test_x, splits.test_y, 5000)[1] for name, (_, model) in built.items()
    }
    dims = [parts.dataset.input_dim] + [layer["units"] for layer in settings.model.layers if layer["type"] == "dense"]
    return {
        "seconds": seconds, "accuracy": accuracy, "same_init": same_init, "batch": batch,
        "dims": dims, "dtype": settings.dtype, "n_train": len(splits.train_y),
    }


# --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=at_least(1), default=5, help="MNIST epochs per engine")
    parser.add_argument("--block", type=at_least(1), default=10, help="steps an engine runs before the other takes its turn")
    parser.add_argument("--value-steps", type=at_least(1), default=10, help="timed Value steps per implementation and GC setting")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the MNIST part")
    args = parser.parse_args()

    value = bench_value(args.value_steps)
    tensor = bench_tensor(args.epochs, args.block, args.overrides)

    rates = value["rates"]
    speedup = {gc_on: rates[gc_on]["value"] / rates[gc_on]["closure"] for gc_on in rates}
    median = {name: statistics.median(s) for name, s in tensor["seconds"].items()}
    ratio = median["autograd"] / median["backprop"]
    per_epoch = [a / b for a, b in zip(tensor["seconds"]["autograd"], tensor["seconds"]["backprop"])]

    rows = [
        ("Value: two-moons MLP", f"2-16-16-1 ReLU, 100 points, {value['nodes']:,} graph nodes per step"),
        ("same losses as the closure style", "yes" if value["same_losses"] else "NO"),
        ("Value steps/s, GC on", f"{rates[True]['value']:.2f}  (closure style {rates[True]['closure']:.2f}) -> {speedup[True]:.1f}x"),
        ("Value steps/s, GC off", f"{rates[False]['value']:.2f}  (closure style {rates[False]['closure']:.2f}) -> {speedup[False]:.1f}x"),
        ("Tensor: MNIST model", "-".join(map(str, tensor["dims"])) + f", batch {tensor['batch']}, {tensor['dtype']}, {tensor['n_train']:,} examples"),
        ("same initial weights in both engines", "yes" if tensor["same_init"] else "NO"),
        ("backprop s/epoch (median)", f"{median['backprop']:.3f}  ({', '.join(f'{s:.2f}' for s in tensor['seconds']['backprop'])})"),
        ("autograd s/epoch (median)", f"{median['autograd']:.3f}  ({', '.join(f'{s:.2f}' for s in tensor['seconds']['autograd'])})"),
        ("autograd / backprop", f"{ratio:.3f}  (per epoch: {', '.join(f'{r:.3f}' for r in per_epoch)})"),
        ("test accuracy after the epochs", ", ".join(f"{name} {100 * acc:.2f} %" for name, acc in tensor["accuracy"].items())),
    ]
    width = max(len(name) for name, _ in rows)
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    print(json.dumps({
        "autograd_over_backprop": round(ratio, 4),
        "autograd_sec_per_epoch": round(median["autograd"], 4),
        "backprop_sec_per_epoch": round(median["backprop"], 4),
        "value_speedup": round(min(speedup.values()), 3),
        "value_speedup_gc_on": round(speedup[True], 3),
        "value_speedup_gc_off": round(speedup[False], 3),
        "value_steps_per_sec_gc_on": round(rates[True]["value"], 3),
        "value_steps_per_sec_gc_off": round(rates[False]["value"], 3),
        "closure_steps_per_sec_gc_on": round(rates[True]["closure"], 3),
        "closure_steps_per_sec_gc_off": round(rates[False]["closure"], 3),
    }))


if __name__ == "__main__":
    main()

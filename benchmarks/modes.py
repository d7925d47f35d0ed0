"""Forward against reverse mode: the cost of a whole Jacobian as inputs and outputs vary.

For ``f: Rⁿ → Rᵐ`` the Jacobian has ``m × n`` entries. Forward mode gets one column per
pass (``J·eᵢ``: every output's derivative along one input), so it needs ``n`` passes;
reverse mode gets one row per pass (``Jᵀ·eⱼ``: one output's derivative with respect to
every input), so it needs ``m``. Forward should win when ``n < m`` (few inputs, many
outputs), reverse when ``n > m`` — the reason training uses reverse mode: a loss has one
output and up to millions of inputs. This script measures where the two actually cross
on this project's two engines:

* **chain** (scalar engine): ``h = tanh(Σ aᵢ xᵢ)``, then ``--depth`` steps
  ``h = tanh(c·h + d)``, then ``yⱼ = bⱼ·h + h²``: ``n`` inputs, a long shared middle,
  ``m`` outputs. Forward: ``n`` evaluations on ``Dual`` numbers. Reverse: one ``Value``
  graph, then per output a backward pass (its gradients cleared first).
* **mlp** (Tensor engine): ``y = W₃ tanh(W₂ tanh(W₁ x + b₁) + b₂) + b₃`` with hidden
  width ``--hidden``, one example. The graph is recorded once for both modes; forward:
  ``n`` tangent sweeps (:func:`harness_autograd.tangent`), reverse: ``m`` backward
  sweeps (``Tensor.backward`` with a one-hot seed).

Every ``(n, m)`` of ``--sizes`` × ``--sizes`` is timed ``--repeats`` times, the two modes
taking turns; a time is the median in CPU time of this thread (a shared machine's other
processes do not count). The crossover is where a least-squares line through
``log(forward/reverse)`` against ``log(n/m)`` crosses 0. Both Jacobians are compared
entry by entry: ``max_jvp_vjp_rel_err`` is the largest ``‖J_fwd − J_rev‖ / (‖J_fwd‖ +
‖J_rev‖)`` over all cases.

Usage: ``python benchmarks/modes.py [--sizes 1,4,16,64,256] [--repeats 5] [--plot FILE]``.
Prints a table, writes the plot (default ``.benchmarks/modes.png``), and ends with one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from arguments import at_least, integers
from harness_autograd import Dual, Tensor, Value, tangent

# ------------------------------------------------------------------ the chain


class Chain:
    """``n`` inputs into one hub, ``depth`` scalar steps, ``m`` outputs out of it."""

    name = "chain"

    def __init__(self, n: int, m: int, depth: int, rng: np.random.Generator):
        self.n, self.m = n, m
        self.a = (rng.standard_normal(n) / np.sqrt(n)).tolist()
        self.c = rng.uniform(0.5, 1.0, depth).tolist()
        self.d = rng.uniform(-0.1, 0.1, depth).tolist()
        self.b = rng.standard_normal(m).tolist()
        self.x = rng.standard_normal(n).tolist()

    def f(self, xs):
        h = sum([a * x for a, x in zip(self.a, xs)], 0.0).tanh()
        for c, d in zip(self.c, self.d):
            h = (h * c + d).tanh()
        square = h * h
        return [h * b + square for b in self.b]

    def forward_jacobian(self) -> np.ndarray:
        columns = []
        for i in range(self.n):
            outputs = self.f([Dual(x, 1.0 if k == i else 0.0) for k, x in enumerate(self.x)])
            columns.append([y.tangent for y in outputs])
        return np.array(columns).T

    def reverse_jacobian(self) -> np.ndarray:
        leaves = [Value(x) for x in self.x]
        outputs = self.f(leaves)
        rows = []
        for y in outputs:
            for node in y.topological_order():
                node.grad = 0.0
            y.backward()
            rows.append([leaf.grad for leaf in leaves])
        return np.array(rows)


# -------------------------------------------------------------------- the MLP


class MLP:
    """A tanh MLP ``n → hidden → hidden → m`` on one example, weights held constant."""

    name = "mlp"

    def __init__(self, n: int, m: int, hidden: int, rng: np.random.Generator):
        self.n, self.m = n, m
        sizes = [n, hidden, hidden, m]
        self.weights = [Tensor(rng.standard_normal((a, b)) / np.sqrt(a)) for a, b in zip(sizes, sizes[1:])]
        self.biases = [Tensor(0.1 * rng.standard_normal(b)) for b in sizes[1:]]
        self.x = rng.standard_normal((1, n))

    def _graph(self):
        x = Tensor(self.x, requires_grad=True)
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h.linear(w, b)
            if i < len(self.weights) - 1:
                h = h.tanh()
        return x, h

    def forward_jacobian(self) -> np.ndarray:
        x, y = self._graph()
        columns = np.empty((self.m, self.n))
        seed = np.zeros((1, self.n))
        for i in range(self.n):
            seed[0, i] = 1.0
            columns[:, i] = tangent(y, {x: seed})[0]
            seed[0, i] = 0.0
        return columns

    def reverse_jacobian(self) -> np.ndarray:
        x, y = self._graph()
        rows = np.empty((self.m, self.n))
        seed = np.zeros((1, self.m))
        for j in range(self.m):
            seed[0, j] = 1.0
            x.zero_grad()
            y.backward(seed)
            rows[j] = x.grad[0]
            seed[0, j] = 0.0
        return rows


# ---------------------------------------------------------------- measurement


def cpu_seconds(fn) -> tuple[float, np.ndarray]:
    start = time.thread_time()
    result = fn()
    return time.thread_time() - start, result


def measure(problem, repeats: int) -> dict:
    forward_times, reverse_times = [], []
    jf = jr = None
    for _ in range(repeats):  # the modes take turns, so a slow spell hits both
        seconds, jf = cpu_seconds(problem.forward_jacobian)
        forward_times.append(seconds)
        seconds, jr = cpu_seconds(problem.reverse_jacobian)
        reverse_times.append(seconds)
    denominator = np.linalg.norm(jf) + np.linalg.norm(jr)
    error = float(np.linalg.norm(jf - jr) / denominator) if denominator else 0.0
    forward, reverse = statistics.median(forward_times), statistics.median(reverse_times)
    return {"function": problem.name, "n": problem.n, "m": problem.m, "forward_s": forward, "reverse_s": reverse,
            "ratio": forward / reverse, "rel_err": error}


def crossover(rows: list[dict]) -> tuple[float, float]:
    """``(n/m where forward and reverse cost the same, slope)`` of the log-log fit."""
    x = np.log([r["n"] / r["m"] for r in rows])
    y = np.log([r["ratio"] for r in rows])
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.exp(-intercept / slope)), float(slope)


def plot(rows: list[dict], fits: dict, path: Path) -> Path:
    from matplotlib.figure import Figure

    functions = list(fits)
    fig = Figure(figsize=(5.2 * len(functions), 4.2))
    axes = fig.subplots(1, len(functions), squeeze=False)[0]
    for ax, name in zip(axes, functions):
        mine = [r for r in rows if r["function"] == name]
        ms = sorted({r["m"] for r in mine})
        colors = {m: c for m, c in zip(ms, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"))}
        for m in ms:
            pts = sorted((r["n"] / r["m"], r["ratio"]) for r in mine if r["m"] == m)
            ax.plot(*zip(*pts), "o-", ms=4, lw=1, color=colors.get(m), label=f"m = {m}")
        point, slope = fits[name]
        xs = np.geomspace(min(r["n"] / r["m"] for r in mine), max(r["n"] / r["m"] for r in mine), 50)
        ax.plot(xs, (xs / point) ** slope, "k--", lw=1, label=f"fit: slope {slope:.2f}")
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.axhspan(1e-9, 1.0, color="tab:green", alpha=0.07, lw=0, label="forward mode cheaper")
        ax.axvline(point, color="k", lw=0.8, ls=":")
        ax.annotate(f"crossover n/m ≈ {point:.2g}", (point, 1.0), textcoords="offset points", xytext=(6, -14), fontsize=9)
        ax.set(xscale="log", yscale="log", xlabel="inputs / outputs  (n / m)", ylabel="forward time / reverse time",
               title=f"{name}: full Jacobian, forward vs reverse")
        ax.grid(alpha=0.3, which="both")
        ax.set_ylim(min(r["ratio"] for r in mine) / 2, max(r["ratio"] for r in mine) * 2)
        ax.legend(fontsize=7, loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=integers(1, 2), default="1,4,16,64,256", help="values of n and of m (comma-separated)")
    parser.add_argument("--repeats", type=at_least(1), default=5, help="timings per mode and case (the median is kept)")
    parser.add_argument("--depth", type=at_least(1), default=50, help="scalar steps in the middle of the chain")
    parser.add_argument("--hidden", type=at_least(1), default=64, help="hidden width of the MLP")
    parser.add_argument("--plot", default=".benchmarks/modes.png", help="where to write the plot")
    parser.add_argument("--seed", type=at_least(0), default=0)
    args = parser.parse_args(argv)
    sizes = args.sizes

    rng = np.random.default_rng(args.seed)
    rows = []
    print(f"{'function':8} {'n':>5} {'m':>5} {'forward ms':>11} {'reverse ms':>11} {'fwd/rev':>8} {'rel err':>9}")
    for name, make in (("chain", lambda n, m: Chain(n, m, args.depth, rng)), ("mlp", lambda n, m: MLP(n, m, args.hidden, rng))):
        for n in sizes:
            for m in sizes:
                row = measure(make(n, m), args.repeats)
                rows.append(row)
                print(f"{name:8} {n:5d} {m:5d} {1e3 * row['forward_s']:11.3f} {1e3 * row['reverse_s']:11.3f} "
                      f"{row['ratio']:8.3f} {row['rel_err']:9.1e}", flush=True)

    fits = {name: crossover([r for r in rows if r["function"] == name]) for name in ("chain", "mlp")}
    where = plot(rows, fits, Path(args.plot))
    lo, hi = min(sizes), max(sizes)
    result = {"benchmark": "modes", "sizes": sizes, "repeats": args.repeats, "max_jvp_vjp_rel_err": max(r["rel_err"] for r in rows)}
    print()
    for name, (point, slope) in fits.items():
        few_in = next(r for r in rows if r["function"] == name and r["n"] == lo and r["m"] == hi)
        many_in = next(r for r in rows if r["function"] == name and r["n"] == hi and r["m"] == lo)
        print(f"{name}: forward/reverse = {few_in['ratio']:.3g} at n={lo}, m={hi} and {many_in['ratio']:.3g} at n={hi}, m={lo}; "
              f"equal cost at n/m ≈ {point:.2g} (log-log slope {slope:.2f})")
        result[f"{name}_ratio_n{lo}_m{hi}"] = round(few_in["ratio"], 4)
        result[f"{name}_ratio_n{hi}_m{lo}"] = round(many_in["ratio"], 4)
        result[f"{name}_crossover_n_over_m"] = round(point, 3)
    print(f"plot: {where}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

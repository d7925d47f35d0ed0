"""A tiny neural-network library on :class:`Value`: neuron, layer, MLP.

Each parameter is one ``Value``; calling a module on a list of inputs (``Value`` or
plain numbers) builds the expression graph of its output, so ``loss.backward()`` fills
every parameter's ``grad``. Built for reading, and for the scalar engine and the
two-moons demo, not for MNIST (that is :class:`~harness_autograd.tensor.Tensor`'s job).
"""

from __future__ import annotations

import random

from harness_autograd.value import Value

ACTIVATIONS = {"linear": None, "relu": Value.relu, "tanh": Value.tanh, "sigmoid": Value.sigmoid}


class Module:
    def parameters(self) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """``act(Σ wᵢ xᵢ + b)`` with weights drawn uniformly from [-1, 1] and ``b = 0``."""

    def __init__(self, nin: int, act: str = "linear", rng: random.Random | None = None):
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        rng = rng if rng is not None else random.Random(0)
        self.w = [Value(rng.uniform(-1.0, 1.0)) for _ in range(nin)]
        self.b = Value(0.0)
        self.act = act
        self._act = ACTIVATIONS[act]

    def __call__(self, x) -> Value:
        out = sum([wi * xi for wi, xi in zip(self.w, x)], self.b)
        return out if self._act is None else self._act(out)

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"Neuron({len(self.w)}, act={self.act!r})"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs."""

    def __init__(self, nin: int, nout: int, act: str = "linear", rng: random.Random | None = None):
        rng = rng if rng is not None else random.Random(0)
        self.neurons = [Neuron(nin, act, rng) for _ in range(nout)]

    def __call__(self, x) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer([{', '.join(map(repr, self.neurons))}])"


class MLP(Module):
    """Layers of sizes ``nouts`` after ``nin`` inputs; ``act`` on every layer but the last."""

    def __init__(self, nin: int, nouts: list[int], act: str = "relu", seed: int = 0):
        rng = random.Random(seed)
        sizes = [nin, *nouts]
        self.layers = [
            Layer(sizes[i], sizes[i + 1], act if i < len(nouts) - 1 else "linear", rng)
            for i in range(len(nouts))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP([{', '.join(map(repr, self.layers))}])"

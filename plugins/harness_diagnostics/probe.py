"""One look at gradient flow: a forward and backward pass on a fixed probe batch.

Why a probe and not hooks inside training: a hook on every layer's forward and backward
would sit in the hot path of every step of every engine. Instead, every N steps, the
model's layers are deep-copied and a small fixed batch of training examples is run
through the copies one layer at a time, through the *engine's* own adapters
(``layer_forward``, ``layer_gradients``, ``loss_forward``, ``loss_gradient`` — the ones
gradient checks use). That costs one small forward and backward pass per N steps, works
for any engine that passes ``harness check``, and measures what one layer cannot see
in a model's ``train_batch``: the gradient arriving at each layer's input.

The copies keep the probe from touching the run: the real layers' gradients, batch-norm
running statistics, dropout generators and cached activations are left as training put
them, so a run records the same numbers with diagnostics on or off. The probe runs in
training mode (batch norm normalises with the probe batch's statistics, as in a step),
and stochastic layers are reseeded before each pass so both passes draw the same mask.

Two ratios sum a record up. ``grad_norm_ratio`` compares the first and last weight
matrices' gradients; ``input_grad_ratio`` the gradient arriving at the first and at the
last layer. They differ where activations vanish too: a weight gradient is (layer input)ᵀ
× (gradient arriving), and with naive init in a ReLU or tanh net the layer inputs shrink
towards the top as fast as the gradients shrink towards the bottom, so the weight
gradients come out balanced while both signals die; only the second ratio shows it.

Measured on a fixed batch, successive records differ only because the weights changed,
not because the batch did, and clipping (which rewrites the step's gradients in place)
does not hide what the network itself produces.
"""

from __future__ import annotations

import copy

import numpy as np

from harness import layer_kind
from harness_diagnostics.stats import activation_stats, norm

GRAD = "grad_norm"                # grad_norm/<layer>.<param>: dL/dparam on the probe batch
INPUT_GRAD = "input_grad_norm"    # input_grad_norm/<layer>: dL/d(layer input)
ACT_MEAN = "act_mean"             # act_mean/<layer>: mean of the layer's output
ACT_STD = "act_std"               # act_std/<layer>
DEAD = "dead_fraction"            # dead_fraction/<relu layer>
SATURATED = "saturated_fraction"  # saturated_fraction/<sigmoid or tanh layer>
UPDATE = "update_ratio"           # update_ratio/<layer>.<param>: ||Δw|| / ||w|| of one step
RATIO = "grad_norm_ratio"         # first weight matrix's gradient norm / last one's
INPUT_RATIO = "input_grad_ratio"  # gradient norm at the first layer's input / at the last layer's input
PROBE_LOSS = "probe_loss"
# Tracked under one prefix (``diag/grad_norm/0.dense.W``): MLflow's UI makes one chart
# section per prefix, so the many diagnostics curves fold into a single section placed
# after the run's own metrics instead of a dozen sections ahead of them.
TRACKED_PREFIX = "diag/"


def tracked(name: str) -> str:
    """The name a tracking store records a diagnostics metric under."""
    return TRACKED_PREFIX + name

STAT_PREFIX = {"mean": ACT_MEAN, "std": ACT_STD, "dead": DEAD, "saturated": SATURATED}
REPLAY_SEED = 0


def weight_names(layers, names) -> list[str]:
    """``<layer>.<param>`` of every weight matrix (2-D or more), input side first.

    Biases and batch-norm scales are left out of ratios and plots: a zero-initialised
    bias has no meaningful size to compare an update or a gradient with.
    """
    return [
        f"{name}.{key}"
        for layer, name in zip(layers, names)
        for key, value in layer.params.items()
        if np.ndim(value) >= 2
    ]


class Probe:
    """Measures gradient flow of a model's layers on one fixed batch."""

    def __init__(self, engine, loss, x: np.ndarray, y: np.ndarray):
        self.engine, self.loss, self.x, self.y = engine, loss, x, y

    def measure(self, layers, names) -> dict[str, float]:
        """Every per-layer number for the layers' current weights (the layers are not touched)."""
        engine = self.engine
        copies = copy.deepcopy(list(layers))
        metrics: dict[str, float] = {}
        inputs = []
        with np.errstate(all="ignore"):  # a diverging run is measured, not interrupted
            h = self.x
            for layer, name in zip(copies, names):
                _replay(layer)
                inputs.append(h)
                h = np.asarray(engine.layer_forward(layer, h))
                for stat, value in activation_stats(layer_kind(layer), h).items():
                    metrics[f"{STAT_PREFIX[stat]}/{name}"] = value
            metrics[PROBE_LOSS] = float(engine.loss_forward(self.loss, h, self.y))
            upstream = np.asarray(engine.loss_gradient(self.loss, h, self.y))
            for layer, name, x_in in reversed(list(zip(copies, names, inputs))):
                _replay(layer)
                d_input, grads = engine.layer_gradients(layer, x_in, upstream)
                metrics[f"{INPUT_GRAD}/{name}"] = norm(d_input)
                for key, grad in grads.items():
                    metrics[f"{GRAD}/{name}.{key}"] = norm(grad)
                upstream = np.asarray(d_input)
        weights = weight_names(layers, names)
        if len(weights) >= 2:
            metrics[RATIO] = _ratio(metrics[f"{GRAD}/{weights[0]}"], metrics[f"{GRAD}/{weights[-1]}"])
        if len(names) >= 2:
            metrics[INPUT_RATIO] = _ratio(metrics[f"{INPUT_GRAD}/{names[0]}"], metrics[f"{INPUT_GRAD}/{names[-1]}"])
        return metrics


def _ratio(first: float, last: float) -> float:
    return first / last if last > 0 else float("nan")


def _replay(layer) -> None:
    """Stochastic layers draw the same mask in the forward and the gradient pass."""
    if hasattr(layer, "reseed"):
        layer.reseed(REPLAY_SEED)

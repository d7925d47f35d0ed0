"""Helpers for engine authors: what every engine's layers and models share.

* :mod:`harness.kit.stack`: :class:`LayerStackModel` (the base class of a model that is a
  stack of layers), :func:`build_stack`, and the one naming rule :func:`layer_name`;
* :mod:`harness.kit.initializers`: He, Xavier and naive Gaussian weights, drawn the same
  way in every engine (:func:`init_weights`, :func:`check_scheme`);
* :mod:`harness.kit.blocks`: :class:`LayerBlock`, the engine-independent half of a
  composite layer (a residual block);
* :mod:`harness.kit.running_stats`: batch normalisation's running averages
  (:func:`update_running_averages`);
* :mod:`harness.kit.clipping`: gradient clipping by global norm and by value, for
  optimizers (:func:`clip_by_global_norm`, :func:`clip_by_value`, :func:`global_norm`).

They live in the core so that two engines given the same seed and the same batches hold
the same numbers under the same names, which cross-engine checks and checkpoints need.
Everything here is re-exported by :mod:`harness`.
"""

from harness.kit.blocks import LayerBlock
from harness.kit.clipping import clip_by_global_norm, clip_by_value, global_norm
from harness.kit.initializers import SCHEMES, check_scheme, init_weights
from harness.kit.running_stats import update_running_averages
from harness.kit.stack import LayerStackModel, build_stack, layer_kind, layer_name

__all__ = [
    "SCHEMES", "LayerBlock", "clip_by_global_norm", "clip_by_value", "global_norm", "LayerStackModel", "build_stack", "check_scheme", "init_weights", "layer_kind",
    "layer_name", "update_running_averages",
]

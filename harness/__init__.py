"""harness: a plugin-based experiment harness for backpropagation written from scratch.

Plugins implement the hooks declared in :mod:`harness.hookspecs`, marked with
:data:`hookimpl`, and are found through the ``harness`` entry-point group. Everything a
plugin may import is listed in :data:`__all__` below (and :mod:`harness.testing` for its
tests); every other module of this package is internal and may change.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

hookimpl = pluggy.HookimplMarker("harness")
"""Marks a plugin's hook implementations: ``@harness.hookimpl``."""

DISTRIBUTION = "harness-backprop"
"""The distribution this package ships in (``pip install harness-backprop``)."""

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

# The public API. Imported after ``hookimpl`` so that modules importing it find it.
from harness import validation  # noqa: E402
from harness.config import HarnessConfig  # noqa: E402
from harness.conformance import CheckResult, Subject  # noqa: E402
from harness.contracts import (  # noqa: E402
    BufferedLayer,
    ClosureOptimizer,
    CompositeLayer,
    Dataset,
    Engine,
    GradientChecker,
    Layer,
    Loss,
    Model,
    NamedParameter,
    Optimizer,
    RandomLayer,
    Reseedable,
    Schedule,
    StepSchedule,
)
from harness.errors import (  # noqa: E402
    ConfigError,
    DataError,
    DivergenceError,
    HarnessError,
    PluginError,
    StopTraining,
    TrackingError,
)
from harness.files import atomic_write, cache_root, describe_os_error, sha256_file  # noqa: E402
from harness.jobs import read_results as read_sweep_jobs  # noqa: E402
from harness.kit import (  # noqa: E402
    LayerBlock,
    LayerStackModel,
    build_stack,
    check_scheme,
    clip_by_global_norm,
    clip_by_value,
    global_norm,
    init_weights,
    layer_kind,
    layer_name,
    update_running_averages,
)
from harness.model import build_layers, build_loss, model_requirements  # noqa: E402
from harness.plugins import PluginInfo, get_plugin_manager, get_registry  # noqa: E402
from harness.processes import ProcessIdentity, owner_alive  # noqa: E402
from harness.records import (  # noqa: E402
    DatasetProvenance,
    RunInfo,
    RunRecord,
    RunResult,
    Splits,
    SweepInfo,
    SweepJob,
    holdout,
)
from harness.training.arrays import model_arrays, model_components  # noqa: E402
from harness.training.checkpoint import TrainingState  # noqa: E402
from harness.training.checkpoint import files as checkpoint_files  # noqa: E402
from harness.training.checkpoint import restore as restore_checkpoint  # noqa: E402
from harness.training.checkpoint import save as save_checkpoint  # noqa: E402
from harness.training.weights import load_model_files, predict_classes, save_model_files  # noqa: E402

__all__ = [
    # plugin plumbing
    "hookimpl", "__version__", "DISTRIBUTION", "get_plugin_manager", "get_registry", "PluginInfo",
    # errors and config validation
    "HarnessError", "ConfigError", "PluginError", "DataError", "TrackingError", "DivergenceError",
    "StopTraining", "validation", "HarnessConfig",
    # component contracts
    "Layer", "RandomLayer", "Reseedable", "BufferedLayer", "CompositeLayer", "Loss", "Model", "Engine",
    "Optimizer", "ClosureOptimizer", "Schedule", "StepSchedule", "Dataset", "GradientChecker",
    "NamedParameter",
    # records hooks receive
    "Splits", "holdout", "DatasetProvenance", "RunInfo", "RunResult", "SweepInfo", "SweepJob", "RunRecord",
    "read_sweep_jobs",
    # gradient checkers
    "CheckResult", "Subject",
    # engine authors
    "LayerStackModel", "LayerBlock", "build_stack", "layer_name", "layer_kind", "init_weights",
    "check_scheme", "update_running_averages", "build_layers", "build_loss", "model_requirements",
    # optimizer authors
    "clip_by_global_norm", "clip_by_value", "global_norm",
    # files, checkpoints and exported models
    "atomic_write", "describe_os_error", "sha256_file", "cache_root", "checkpoint_files", "save_checkpoint",
    "restore_checkpoint", "TrainingState", "model_arrays", "model_components", "save_model_files",
    "load_model_files", "predict_classes",
    # which process owns a run (liveness across processes)
    "ProcessIdentity", "owner_alive",
]

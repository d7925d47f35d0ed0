"""Gradient-flow diagnostics: per-layer gradient norms, activation statistics, update ratios.

A run-event plugin for any engine: every ``diagnostics.every_steps`` steps it runs a
fixed probe batch through a copy of the model's layers (:mod:`.probe`), keeps the
numbers (:mod:`.recorder`), sends them to MLflow and draws them at the end of the run
(:mod:`.plots`); :mod:`.summary` compares the runs of a sweep.
"""

from harness_diagnostics.probe import Probe, weight_names
from harness_diagnostics.recorder import Recorder
from harness_diagnostics.settings import Settings, from_config, parse

__all__ = ["Probe", "Recorder", "Settings", "from_config", "parse", "weight_names"]

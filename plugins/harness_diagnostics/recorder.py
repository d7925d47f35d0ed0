"""What the diagnostics plugin keeps for one run: when to measure, and the records.

A record is taken at step 0 (the initial weights, before any update) and after every
``every_steps``-th optimizer step. Each record is ``{"step": s, <metric>: value, ...}``
(metric names in :mod:`harness_diagnostics.probe`), kept in order in
:attr:`Recorder.records` — the run's diagnostics history, next to ``run.history``; the
plugin sends the records not sent yet (:meth:`Recorder.take_unsent`) to the tracking run
at epoch ends (batched over ~10 s) and at the end of the run.

The update-to-weight ratio of step ``s`` needs the weights from before that step, so the
weight matrices are copied after step ``s − 1`` (at run start for step 1): one copy of
the weights per ``every_steps`` steps, nothing on the other steps.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from harness_diagnostics.probe import UPDATE, Probe, weight_names
from harness_diagnostics.settings import Settings
from harness_diagnostics.stats import update_ratio

log = logging.getLogger("harness.diagnostics")


class Recorder:
    """Measures one run every ``settings.every_steps`` steps and keeps the records."""

    def __init__(self, model, probe: Probe | None, settings: Settings):
        self.model = model
        self.probe = probe
        self.settings = settings
        self.layer_names = list(model.layer_names)
        self.weights = weight_names(model.layers, self.layer_names)
        # The layers' own arrays, which the optimizer updates in place.
        self._weight_values = {
            f"{name}.{key}": value
            for layer, name in zip(model.layers, self.layer_names)
            for key, value in layer.params.items()
            if f"{name}.{key}" in self.weights
        }
        self.records: list[dict[str, float]] = []
        self.last_step: int | None = None  # the last step seen (None: a resumed run before its first)
        self.sent_at = time.monotonic()     # when records were last handed to a tracking run
        self._before: dict[str, np.ndarray] | None = None
        self._sent = 0

    # ---------------------------------------------------------------- schedule

    def start(self, step: int = 0) -> None:
        """Record the weights the run starts from (step 0, unless resumed mid-way)."""
        self.last_step = step
        self._record(step, with_updates=False)
        self._snapshot_if_due(step)

    def resumed(self) -> None:
        """A resumed run, before its first step: keep the weights it starts from, in case
        that first step is one to record (a checkpoint one step before a multiple of
        ``every_steps``), so its update ratios are measured as in an uninterrupted run."""
        self._before = {name: value.copy() for name, value in self._weight_values.items()}

    def after_step(self, step: int) -> None:
        """Called after every optimizer step; does something only every ``every_steps``."""
        self.last_step = step
        if step % self.settings.every_steps == 0:
            self._record(step, with_updates=self._before is not None)
        self._snapshot_if_due(step)

    def stopped(self) -> None:
        """A run that failed or was stopped: record the weights it ended with, if not yet
        recorded — for a diverging run, the picture just before it blew up."""
        if self.last_step is not None and (not self.records or self.records[-1]["step"] < self.last_step):
            self._record(self.last_step, with_updates=False)

    def _snapshot_if_due(self, step: int) -> None:
        if (step + 1) % self.settings.every_steps == 0:
            self._before = {name: value.copy() for name, value in self._weight_values.items()}
        else:
            self._before = None

    # ------------------------------------------------------------- measuring

    def _record(self, step: int, with_updates: bool) -> None:
        record: dict[str, float] = {"step": step}
        if self.probe is not None:
            try:
                record.update(self.probe.measure(self.model.layers, self.layer_names))
            except Exception as exc:  # diagnostics must never stop a run
                log.warning("diagnostics: the probe failed (%s: %s); recording update ratios only",
                            type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
                self.probe = None
        if with_updates:
            assert self._before is not None  # the caller's condition for with_updates
            for name, value in self._weight_values.items():
                record[f"{UPDATE}/{name}"] = update_ratio(self._before[name], value)
        self.records.append(record)

    # ---------------------------------------------------------------- sending

    def take_unsent(self) -> list[dict[str, float]]:
        """The records not handed out yet (each record is handed out once)."""
        unsent = self.records[self._sent:]
        self._sent = len(self.records)
        return unsent

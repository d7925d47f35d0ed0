"""Gradient-flow diagnostics on the run-event hooks, for any engine.

* ``harness_run_start``: reads the ``diagnostics`` config section, picks a fixed probe
  batch of training examples, records step 0 (the initial weights);
* ``harness_step_end``: every ``diagnostics.every_steps`` steps, records again (see
  :mod:`harness_diagnostics.probe` for why a probe batch and not hooks in the hot path);
  on the other steps one modulo and nothing else;
* ``harness_epoch_end`` and ``harness_checkpoint_saved``: hand the new records to
  ``run.log_metrics`` under the ``diag/`` prefix (the tracking plugin, if any, records them) at most every
  ``SEND_EVERY_SECONDS`` at epoch ends, and always with a checkpoint, so a run resumed
  from its checkpoint has lost none of them;
* ``harness_run_artifacts``: for a run that failed (diverged) records the weights it
  ended with; writes ``diagnostics/records.json`` and draws
  ``diagnostics/gradient_norms.png`` and ``diagnostics/layer_profile.png`` into the run
  folder (the tracking plugin uploads them);
* ``harness_compare_runs``: when the runs compared asked for ``diagnostics.summary``
  (the vanishing preset), ``diagnostics_summary.png`` over them, read from their folders.

The options are this plugin's config group (``conf/diagnostics/``).
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from pathlib import Path

import numpy as np

from harness import Engine, Model, RunInfo, RunRecord, RunResult, Splits, atomic_write, build_loss, get_registry, hookimpl
from harness_diagnostics.probe import Probe, tracked
from harness_diagnostics.recorder import Recorder
from harness_diagnostics.settings import SECTION, draws_plots, from_config

log = logging.getLogger("harness.diagnostics")
RECORDS_FILE = "records.json"
# A batch of metrics sent to the SQLite store costs ~10 ms plus ~0.1 ms per metric: sending at
# every epoch end of the default run (1 s epochs) would cost 2-3 % by itself. Records go
# out at the first epoch end SEND_EVERY_SECONDS after the last sending, and at run end.
SEND_EVERY_SECONDS = 10.0
_recorders: weakref.WeakKeyDictionary[RunInfo, Recorder] = weakref.WeakKeyDictionary()


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")


@hookimpl(tryfirst=True)  # a bad option fails before any other plugin opens anything
def harness_run_start(run: RunInfo, model: Model, engine: Engine, data: Splits) -> None:
    settings = from_config(run.config)
    if not settings.enabled:
        return
    recorder = Recorder(model, make_probe(run, engine, data, settings.probe_size), settings)
    _recorders[run] = recorder
    if not run.resumed:
        recorder.start(0)
    else:  # a resumed run goes on from its step, recorded at the next interval
        recorder.resumed()


@hookimpl
def harness_step_end(run: RunInfo, step: int) -> None:
    recorder = _recorders.get(run)
    if recorder is not None:
        recorder.after_step(step)


@hookimpl
def harness_epoch_end(run: RunInfo) -> None:
    recorder = _recorders.get(run)
    if recorder is not None and time.monotonic() - recorder.sent_at >= SEND_EVERY_SECONDS:
        _flush(run, recorder)


@hookimpl(tryfirst=True)  # before a tracker uploads the checkpoint: the records it covers go first
def harness_checkpoint_saved(run: RunInfo) -> None:
    recorder = _recorders.get(run)
    if recorder is not None:
        _flush(run, recorder)


@hookimpl
def harness_run_artifacts(run: RunInfo, result: RunResult) -> list[Path]:
    recorder = _recorders.get(run)
    if recorder is None:
        return []
    # A failed or diverged run's last weights are the picture before it blew up (a finished
    # run may have had its best epoch's weights restored). A KILLED run skips the probe:
    # whoever stopped it wants it to stop, and with a slow engine one more probe takes minutes.
    if result.status == "FAILED" or result.diverged:
        recorder.stopped()
    _flush(run, recorder)
    folder = run.output_dir / "diagnostics"
    folder.mkdir(parents=True, exist_ok=True)
    made = [atomic_write(folder / RECORDS_FILE, json.dumps(recorder.records))]
    if not draws_plots(recorder.settings, run):
        return made
    if len(recorder.records) < 2:
        log.info("diagnostics: %d probe record(s), no plots over training (probes every %d steps; "
                 "lower diagnostics.every_steps for short runs)", len(recorder.records), recorder.settings.every_steps)
        return made
    from harness_diagnostics import plots

    records, weights, names = recorder.records, recorder.weights, recorder.layer_names
    steps = plots.profile_steps(records, recorder.settings.profile_step)
    made += [
        plots.gradient_norms(records, weights, names, folder / "gradient_norms.png", title=run.name),
        plots.layer_profile(records, weights, names, folder / "layer_profile.png", steps, title=run.name),
    ]
    log.info("diagnostics plots written to %s", folder)
    return made


@hookimpl
def harness_run_end(run: RunInfo) -> None:
    recorder = _recorders.pop(run, None)
    if recorder is not None:
        _flush(run, recorder)  # whatever is left when no artifacts were collected


def make_probe(run: RunInfo, engine: Engine, data: Splits, size: int) -> Probe | None:
    """A probe on ``size`` training examples drawn once (seeded by the run's seed, so the
    training generator is untouched), with the run's engine and a fresh loss configured as
    the run's (losses cache a batch); ``None`` (and a warning) when that is impossible."""
    n = len(data.train_y)
    if n == 0:
        log.warning("diagnostics: the run has no training data to probe; recording update ratios only")
        return None
    index = np.sort(np.random.default_rng(run.config.seed).choice(n, min(size, n), replace=False))
    try:
        loss_name, loss_options = run.config.model.loss_spec()
        loss = build_loss(get_registry(), run.engine_name, loss_name, loss_options)
    except Exception as exc:
        log.warning("diagnostics: cannot build the loss for the probe (%s); recording update ratios only", exc)
        return None
    return Probe(engine, loss, data.train_x[index].copy(), data.train_y[index].copy())


def _flush(run: RunInfo, recorder: Recorder) -> None:
    """Hand the new records to whatever tracks the run, in one batch (each with its step)."""
    recorder.sent_at = time.monotonic()
    records = recorder.take_unsent()
    if records:
        run.log_metrics([(int(r["step"]), {tracked(k): float(x) for k, x in r.items() if k != "step"}) for r in records])


@hookimpl
def harness_validate_config(config):
    from_config(config)  # a bad diagnostics.* value is a one-line error before any data is loaded


@hookimpl
def harness_compare_runs(runs: list[RunRecord], folder: Path, title: str) -> list[Path]:
    wanted = [r for r in runs if r.params.get(f"{SECTION}.summary") == "True"]
    if not wanted:
        return []
    from harness_diagnostics.summary import SUMMARY_FILE, summarize_records, table

    try:
        path, rows = summarize_records(wanted, folder / "diagnostics" / SUMMARY_FILE, title=title)
    except LookupError as exc:
        log.warning("diagnostics: no summary: %s", exc)
        return []
    log.info("diagnostics summary of %d runs:\n%s", len(rows), table(rows))
    return [path]


@hookimpl
def harness_register_commands(subparsers):
    from harness_diagnostics.commands import add_commands

    add_commands(subparsers)

"""Gradient-flow diagnostics on the run-event hooks, for any engine.

* ``harness_run_start``: reads the ``diagnostics`` config section, picks a fixed probe
  batch of training examples, records step 0 (the initial weights);
* ``harness_step_end``: every ``diagnostics.every_steps`` steps, records again (see
  :mod:`harness_diagnostics.probe` for why a probe batch and not hooks in the hot path);
  on the other steps one modulo and nothing else;
* ``harness_epoch_end``: hands the new records to ``run.log_metrics`` under the
  ``diag/`` prefix (the tracking plugin, if any, records them; at most every
  ``SEND_EVERY_SECONDS``: long epochs show live, short ones are batched);
* ``harness_run_end``: for a run that failed (diverged) or was stopped, records the
  weights it ended with; draws ``diagnostics/gradient_norms.png`` and
  ``diagnostics/layer_profile.png`` into the run folder and lists them in
  ``run.artifacts`` (the tracking plugin uploads them).

The records stay in ``run.state["diagnostics"].records`` for code that ran the
experiment. ``harness diagnostics summary`` compares the runs of a sweep, and so does
the ``harness_sweep_end`` hook when ``diagnostics.summary`` is set (the vanishing preset).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from harness import hookimpl
from harness_diagnostics.probe import Probe, tracked
from harness_diagnostics.recorder import Recorder
from harness_diagnostics.settings import from_config

log = logging.getLogger("harness.diagnostics")
STATE_KEY = "diagnostics"
# A batch of metrics sent to the SQLite store costs ~10 ms plus ~0.1 ms per metric: sending at
# every epoch end of the default run (1 s epochs) would cost 2-3 % by itself. Records go
# out at the first epoch end SEND_EVERY_SECONDS after the last sending, and at run end.
SEND_EVERY_SECONDS = 10.0


@hookimpl(tryfirst=True)  # a bad option fails before any other plugin opens anything
def harness_run_start(run):
    settings = from_config(run.config)
    if not settings.enabled:
        return
    recorder = Recorder(run.model, make_probe(run, settings.probe_size), settings)
    run.state[STATE_KEY] = recorder
    if not run.resumed:  # a resumed run goes on from its step, recorded at the next interval
        recorder.start(0)


@hookimpl
def harness_step_end(run, step, loss, batch_size, correct):
    recorder = run.state.get(STATE_KEY)
    if recorder is not None:
        recorder.after_step(step)


@hookimpl
def harness_epoch_end(run, epoch, metrics):
    recorder = run.state.get(STATE_KEY)
    if recorder is not None and time.monotonic() - recorder.sent_at >= SEND_EVERY_SECONDS:
        _flush(run)


@hookimpl(tryfirst=True)  # before the tracking plugin uploads run.artifacts and ends its run
def harness_run_end(run, status, error):
    recorder = run.state.get(STATE_KEY)
    if recorder is None:
        return
    # A failed run's last weights are the picture before it blew up (a finished run may have
    # had its best epoch's weights restored). A KILLED run skips the probe: whoever stopped
    # it wants it to stop, and with a slow engine one more probe can take minutes.
    if status == "FAILED":
        recorder.stopped()
    _flush(run)
    if not recorder.settings.plots:
        return
    if len(recorder.records) < 2:
        log.info("diagnostics: %d probe record(s), no plots over training (probes every %d steps; "
                 "lower diagnostics.every_steps for short runs)", len(recorder.records), recorder.settings.every_steps)
        return
    try:
        from harness_diagnostics import plots

        folder = run.output_dir / "diagnostics"
        records, weights, names = recorder.records, recorder.weights, recorder.layer_names
        steps = plots.profile_steps(records, recorder.settings.profile_step)
        made = [
            plots.gradient_norms(records, weights, names, folder / "gradient_norms.png", title=run.name),
            plots.layer_profile(records, weights, names, folder / "layer_profile.png", steps, title=run.name),
        ]
        run.artifacts.extend(made)
        log.info("diagnostics plots written to %s", folder)
    except Exception:  # every run-end hook must get its turn
        log.exception("diagnostics: could not draw the plots")


def make_probe(run, size: int) -> Probe | None:
    """A probe on ``size`` training examples drawn once (seeded by the run's seed, so the
    training generator is untouched), with the run's engine and loss; ``None`` (and a
    warning) when the run offers no data or the engine cannot be built again."""
    splits = getattr(run, "splits", None)
    if splits is None or len(splits.train_y) == 0:
        log.warning("diagnostics: the run has no training data to probe; recording update ratios only")
        return None
    n = len(splits.train_y)
    index = np.sort(np.random.default_rng(run.config.seed).choice(n, min(size, n), replace=False))
    try:
        engine, loss = engine_and_loss(run)
    except Exception as exc:
        log.warning("diagnostics: cannot build the engine for the probe (%s); recording update ratios only", exc)
        return None
    return Probe(engine, loss, splits.train_x[index].copy(), splits.train_y[index].copy())


def engine_and_loss(run):
    """The run's engine and a fresh loss object configured as the run's (losses cache a batch)."""
    from harness.model import build_loss

    name = run.config.engine["name"]
    loss_name, loss_options = run.config.model.loss_spec()
    return run.engine, build_loss(run.registry, name, loss_name, loss_options)


def _flush(run) -> None:
    """Hand the new records to whatever tracks the run, in one batch (each with its step)."""
    recorder = run.state.get(STATE_KEY)
    if recorder is None:
        return
    recorder.sent_at = time.monotonic()
    records = recorder.take_unsent()
    if records:
        run.log_metrics([(int(r["step"]), {tracked(k): float(x) for k, x in r.items() if k != "step"}) for r in records])


@hookimpl
def harness_validate_config(config):
    from_config(config)  # a bad diagnostics.* value is a one-line error before any data is loaded


@hookimpl
def harness_sweep_end(config, jobs):
    from harness_diagnostics.sweep import summarize_sweep

    summarize_sweep(config)


@hookimpl
def harness_register_commands(subparsers):
    from harness_diagnostics.commands import add_commands

    add_commands(subparsers)

"""Gradient-flow diagnostics on the run-event hooks, for any engine.

* ``harness_run_start``: reads the ``diagnostics`` config section, picks a fixed probe
  batch of training examples, records step 0 (the initial weights);
* ``harness_step_end``: every ``diagnostics.every_steps`` steps, records again (see
  :mod:`harness_diagnostics.probe` for why a probe batch and not hooks in the hot path);
  on the other steps one modulo and nothing else;
* ``harness_epoch_end``: sends the new records to MLflow when the run is tracked (at
  most every ``SEND_EVERY_SECONDS``: long epochs show live, short ones are batched);
* ``harness_run_end``: for a run that failed (diverged) or was stopped, records the
  weights it ended with; draws ``diagnostics/gradient_norms.png`` and
  ``diagnostics/layer_profile.png`` into the run folder and lists them in
  ``run.artifacts`` (the tracking plugin uploads them).

The records stay in ``run.state["diagnostics"].records`` for code that ran the
experiment. ``harness diagnostics summary`` compares the runs of a sweep.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from harness import hookimpl
from harness_diagnostics.probe import Probe
from harness_diagnostics.recorder import Recorder
from harness_diagnostics.settings import from_config

log = logging.getLogger("harness.diagnostics")
STATE_KEY = "diagnostics"
TRACKING_KEY = "mlflow"  # harness_mlflow's TrackedRun: .client (an MlflowClient) and .run_id
MAX_METRICS_PER_CALL = 1000  # MLflow's log_batch limit
# A log_batch call to the SQLite store costs ~10 ms plus ~0.1 ms per metric: sending at
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
    if status != "FINISHED":  # (a finished run may have had its best epoch's weights restored)
        recorder.stopped()
    _flush(run)
    if not recorder.settings.plots or len(recorder.records) < 2:
        return  # nothing to draw over training
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
        engine, loss = engine_and_loss(run.config)
    except Exception as exc:
        log.warning("diagnostics: cannot build the engine for the probe (%s); recording update ratios only", exc)
        return None
    return Probe(engine, loss, splits.train_x[index].copy(), splits.train_y[index].copy())


def engine_and_loss(config):
    """Fresh engine and loss objects, configured as the run's (they hold no training state)."""
    from harness.model import build_loss
    from harness.plugins import load_plugins
    from harness.registry import Registry

    registry = Registry(load_plugins())
    name = config.engine["name"]
    engine = registry.create("engine", name, {k: v for k, v in config.engine.items() if k != "name"}, section="engine")
    loss_name, loss_options = config.model.loss_spec()
    return engine, build_loss(registry, name, loss_name, loss_options)


def _flush(run) -> None:
    """Send the new records to MLflow in one ``log_batch`` call (each metric carries its own
    step), when the run is tracked."""
    recorder, tracked = run.state.get(STATE_KEY), run.state.get(TRACKING_KEY)
    if recorder is None or tracked is None:
        return
    recorder.sent_at = time.monotonic()
    records = recorder.take_unsent()
    if not records:
        return
    try:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, int(r["step"])) for r in records for k, v in r.items() if k != "step"]
        for start in range(0, len(metrics), MAX_METRICS_PER_CALL):
            tracked.client.log_batch(tracked.run_id, metrics=metrics[start:start + MAX_METRICS_PER_CALL])
    except Exception as exc:  # the tracking plugin reports its own failures
        log.warning("diagnostics: could not send metrics to the tracking run (%s)", exc)


@hookimpl
def harness_register_commands(subparsers):
    from harness_diagnostics.commands import add_commands

    add_commands(subparsers)

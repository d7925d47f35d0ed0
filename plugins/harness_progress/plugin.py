"""One tqdm bar per epoch: steps done, running loss and accuracy, samples per second.

Quiet when stderr is not a terminal (``progress=auto``, the default), so logs and CI
output hold only the one summary line per epoch the training loop writes;
``progress=always`` / ``progress=never`` decide for it. The options are this plugin's
config group (``conf/progress/``), shipped through ``harness_register_config_dirs``.
"""

from __future__ import annotations

import sys
import time
import weakref
from pathlib import Path

from tqdm import tqdm

from harness import ConfigError, RunInfo, hookimpl
from harness import validation as v

SECTION = "progress"
MODES = ("auto", "always", "never")
REFRESH_EVERY = 25
_bars: weakref.WeakKeyDictionary[RunInfo, EpochBar] = weakref.WeakKeyDictionary()


class EpochBar:
    def __init__(self, run: RunInfo, epoch: int):
        self.bar = tqdm(
            total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{run.config.training.epochs}",
            unit="step", leave=False, dynamic_ncols=True, file=sys.stderr,
        )
        self.started = time.perf_counter()
        self.loss_sum: float = 0
        self.correct = self.seen = 0

    def step(self, loss: float, batch_size: int, correct: int, step: int) -> None:
        self.loss_sum += loss * batch_size
        self.correct += correct
        self.seen += batch_size
        self.bar.update(1)
        if step % REFRESH_EVERY == 0:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.bar.set_postfix(
                loss=f"{self.loss_sum / self.seen:.4f}", acc=f"{100 * self.correct / self.seen:.2f}%",
                samples_s=f"{self.seen / elapsed:,.0f}", refresh=False,
            )


def _mode(config) -> str:
    options = config.section(SECTION)
    unknown = sorted(set(options) - {"bar"})
    if unknown:
        raise ConfigError(f"progress: unknown option {', '.join(map(repr, unknown))}; accepted: bar")
    return v.one_of("progress.bar", options.get("bar", "auto"), MODES)


def _enabled(run: RunInfo) -> bool:
    mode = _mode(run.config)
    return mode == "always" or (mode == "auto" and sys.stderr.isatty())


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")


@hookimpl
def harness_register_config_sections(register):
    register(SECTION, hashed=False)  # how a run is shown, not what it computes


@hookimpl
def harness_validate_config(config):
    _mode(config)


@hookimpl
def harness_epoch_start(run, epoch):
    if _enabled(run):
        _bars[run] = EpochBar(run, epoch)


@hookimpl
def harness_step_end(run, step, loss, batch_size, correct):
    bar = _bars.get(run)
    if bar is not None:
        bar.step(loss, batch_size, correct, step)


@hookimpl
def harness_epoch_end(run):
    _close(run)


@hookimpl
def harness_run_end(run):
    _close(run)


def _close(run: RunInfo) -> None:
    bar = _bars.pop(run, None)
    if bar is not None:
        bar.bar.close()

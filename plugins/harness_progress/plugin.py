"""One tqdm bar per epoch: steps done, running loss and accuracy, samples per second.

Quiet when stderr is not a terminal (``progress: auto``), so logs and CI output hold
only the one summary line per epoch the training loop writes.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from harness import hookimpl

STATE_KEY = "progress"
REFRESH_EVERY = 25


class EpochBar:
    def __init__(self, run, epoch: int):
        self.bar = tqdm(
            total=run.steps_per_epoch, desc=f"epoch {epoch + 1}/{run.config.training.epochs}",
            unit="step", leave=False, dynamic_ncols=True, file=sys.stderr,
        )
        self.started = time.perf_counter()
        self.loss_sum = self.correct = self.seen = 0

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


def _enabled(run) -> bool:
    mode = run.config.progress
    return mode == "always" or (mode == "auto" and sys.stderr.isatty())


@hookimpl
def harness_epoch_start(run, epoch):
    if _enabled(run):
        run.state[STATE_KEY] = EpochBar(run, epoch)


@hookimpl
def harness_step_end(run, step, loss, batch_size, correct):
    bar = run.state.get(STATE_KEY)
    if bar is not None:
        bar.step(loss, batch_size, correct, step)


@hookimpl
def harness_epoch_end(run, epoch, metrics):
    bar = run.state.pop(STATE_KEY, None)
    if bar is not None:
        bar.bar.close()


@hookimpl
def harness_run_end(run, status, error):
    bar = run.state.pop(STATE_KEY, None)
    if bar is not None:
        bar.bar.close()

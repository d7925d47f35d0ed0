"""Ctrl-C and SIGTERM during training: stop cleanly once, stop at once twice.

During the optimizer steps the first SIGINT or SIGTERM only sets a flag; the loop
notices it after the current step, writes a checkpoint, ends the run KILLED and exits
non-zero. Outside the steps (loading, evaluating, waiting on a tracking server) there is
no step to finish, so it stops the run at once the same way. While the run's records
are closed (the run-end hooks) nothing interrupts: the signal is noted and the process
stops once they are written. A second SIGINT raises ``KeyboardInterrupt`` immediately,
for when even that is too slow; another SIGTERM only repeats the request (a sweep's
launcher passes its SIGINT on to its workers as SIGTERM, and a worker may have had the
SIGINT itself). Handlers are installed only in the main thread (Python delivers signals
there) and restored after; guards nest (the run's own inside the one that covers
loading the data, which stops at once with ``when="before the run started"``).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger("harness.train")

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopRequested(KeyboardInterrupt):
    """The run was asked to stop by a signal; it ends KILLED after a final checkpoint."""

    def __init__(self, signum: int, finished_run=None, when: str | None = None):
        self.signum = signum
        # Set when the signal came while a run that had finished was being recorded: that
        # run ended FINISHED, and the process stops after it instead of going on.
        self.finished_run = finished_run
        # Set when no run had started yet ("before the run started"): nothing was recorded.
        self.when = when
        name = signal.Signals(signum).name
        if finished_run:
            message = f"{name} received while the run was being recorded"
        else:
            message = f"stopped by {name}" + (f" {when}" if when else "")
        super().__init__(message)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class InterruptGuard:
    """Context manager turning the first SIGINT/SIGTERM into a request to stop."""

    def __init__(self, when: str | None = None) -> None:
        self.requested: int | None = None
        # What a stop raised by this guard says about the run ("before the run started").
        self.when = when
        # True while optimizer steps run: then a signal waits for the step to finish.
        # Outside them (building, evaluating, tracking calls) it stops the run at once.
        self.deferring = False
        # True while the run's records are being closed (run-end hooks): nothing interrupts
        # that, or the run would be left RUNNING; signals are noted and the exit follows.
        self.closing = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.closing:
            log.warning("%s received: closing the run's records first, then exiting", signal.Signals(signum).name)
            self.requested = self.requested or signum
            return
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt("second interrupt: stopping at once")
        if self.requested is not None:  # the stop is on its way; a repeated SIGTERM changes nothing
            return
        if not self.deferring:
            self.requested = signum
            if self.when is None:
                log.warning("%s received: stopping now, writing a checkpoint", signal.Signals(signum).name)
            raise StopRequested(signum, when=self.when)
        if self.requested is None:
            self.requested = signum
            log.warning(
                "%s received: finishing this step, writing a checkpoint and stopping (Ctrl-C again to stop at once)",
                signal.Signals(signum).name,
            )

    def check(self) -> None:
        """Raise :class:`StopRequested` if a signal asked the run to stop."""
        if self.requested is not None:
            raise StopRequested(self.requested, when=self.when)

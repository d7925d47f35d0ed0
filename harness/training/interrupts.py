"""Ctrl-C and SIGTERM during training: stop cleanly once, stop at once twice.

The first SIGINT or SIGTERM only sets a flag; the loop notices it after the current
step, writes a checkpoint, ends the run KILLED and exits non-zero. A second SIGINT
raises ``KeyboardInterrupt`` immediately, for when even that is too slow. Handlers are
installed only in the main thread (Python delivers signals there) and restored after.
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("harness.train")

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopRequested(KeyboardInterrupt):
    """The run was asked to stop by a signal; it ends KILLED after a final checkpoint."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class InterruptGuard:
    """Context manager turning the first SIGINT/SIGTERM into a request to stop."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt("second interrupt: stopping at once")
        if self.requested is None:
            self.requested = signum
            log.warning(
                "%s received: finishing this step, writing a checkpoint and stopping (Ctrl-C again to stop at once)",
                signal.Signals(signum).name,
            )

    def check(self) -> None:
        """Raise :class:`StopRequested` if a signal asked the run to stop."""
        if self.requested is not None:
            raise StopRequested(self.requested)

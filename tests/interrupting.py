"""A test plugin that stops a run the way a user's Ctrl-C does, at a chosen step."""

from __future__ import annotations

import os
import signal

from harness import hookimpl


class InterruptAt:
    """Sends this process SIGINT after optimizer step ``step``, like a user's Ctrl-C."""

    def __init__(self, step: int):
        self.step = step

    @hookimpl
    def harness_step_end(self, step):
        if step == self.step:
            os.kill(os.getpid(), signal.SIGINT)

"""Errors a user can act on.

Every error the harness raises on purpose derives from :class:`HarnessError`. Its
message is one line that names what was wrong and what is accepted; the command-line
entry points print it without a traceback and exit non-zero.
"""


class HarnessError(Exception):
    """An error with a one-line, user-facing message."""

    exit_code = 2


class ConfigError(HarnessError):
    """A configuration value is malformed or out of range."""


class PluginError(HarnessError):
    """A plugin failed to load, registered a name twice, or a name is unknown."""


class DataError(HarnessError):
    """A data file is missing, corrupt, truncated or fails its checksum."""


class TrackingError(HarnessError):
    """The tracking store cannot be reached or refused what the run sent."""


class DivergenceError(HarnessError):
    """Training produced a non-finite loss or gradient."""

    exit_code = 3


class StopTraining(Exception):
    """Raised by a run-event hook (``harness_step_end``, ``harness_epoch_end``) to end
    training early: the epoch in progress is validated, the run is tested and ends
    FINISHED, and ``result.stopped_by`` holds the message (an LR range test stopping
    once the loss explodes, a plugin's own early-stopping rule)."""

    def __init__(self, reason: str = "stopped by a plugin") -> None:
        super().__init__(reason)
        self.reason = reason

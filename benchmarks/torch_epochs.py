"""A PyTorch epoch after each of ours: the speed reference, paired epoch by epoch.

``reference_torch.py --serve`` runs in an interpreter that has torch (the project never
depends on it) and trains one epoch of the same model and loop per request. Registered
as a plugin of our run, :class:`TorchEpochs` asks for one after each of our epochs,
outside our timed part, so each ratio compares two epochs seconds apart: this machine's
speed drifts by ±25 % from one second to the next, and a reference run minutes after
ours made the ratio swing with the moment (0.60–1.10× over the runs of 2026-11-29's morning).

Each side's threads may keep spinning for a while after its last product (OpenBLAS's,
PyTorch's OpenMP pool), so the reference epoch starts and ends with a short pause.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from harness import hookimpl

SERVER = Path(__file__).resolve().parent / "reference_torch.py"
PAUSE = 0.25  # seconds before and after a reference epoch
ANSWER_TIMEOUT = 600.0


class ReferenceFailed(RuntimeError):
    """The reference process could not start or stopped answering."""


class TorchEpochs:
    """Trains one PyTorch epoch after each of the run's epochs; ``seconds`` has their times."""

    def __init__(self, python: str, threads: int) -> None:
        self._errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (open while the process lives; close() closes it)
        try:
            self._process = subprocess.Popen(
                [python, str(SERVER), "--serve", "--threads", str(threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, text=True,
            )
        except OSError as exc:
            raise ReferenceFailed(f"cannot start {python}: {exc.strerror or exc}") from None
        try:
            ready = self._answer()
        except ReferenceFailed:
            self.close()
            raise
        self.about = f"{ready['torch']}, {ready['threads']} threads"
        self.seconds: list[float] = []
        self.failure: str | None = None

    def _answer(self) -> dict:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise self._gone()
        return json.loads(line)

    def _gone(self) -> ReferenceFailed:
        """Why the process stopped: its exit status and the last line it wrote to stderr."""
        self._process.wait(timeout=ANSWER_TIMEOUT)
        self._errors.seek(0)
        last = [text for text in self._errors.read().strip().splitlines() if text.strip()][-1:]
        return ReferenceFailed(f"exit status {self._process.returncode}: {' '.join(last) or 'no message'}")

    @hookimpl
    def harness_epoch_end(self):
        if self.failure is not None:
            return
        assert self._process.stdin is not None
        time.sleep(PAUSE)
        try:
            self._process.stdin.write("epoch\n")
            self._process.stdin.flush()
            self.seconds.append(float(self._answer()["seconds"]))
        except ReferenceFailed as exc:  # our run goes on; the reference is left out
            self.failure = str(exc)
        except OSError:  # BrokenPipeError: it is gone before we asked
            self.failure = str(self._gone())
        time.sleep(PAUSE)

    def close(self) -> None:
        """End the reference process (it stops at the end of its input)."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:  # it is gone already (BrokenPipeError on the last flush)
                pass
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._errors.close()

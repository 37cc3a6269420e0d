"""Stopping a command from outside: Ctrl-C (SIGINT) and SIGTERM (what `timeout`, schedulers and
container stops send) both end it cleanly, with one line and no partial file.

This module is light on purpose: the entry point installs its handler before anything heavy is
imported, so a signal in the first moments of a run is one line too, not a traceback.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The command was stopped by a signal. Not a KeyboardInterrupt, which the command-line
    framework would swallow."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM

    @property
    def message(self) -> str:
        stopped = "interrupted" if self.signal_number == signal.SIGINT else "terminated"
        return f"{stopped}: no partial file was left; run the command again"


def stop_while_starting(signal_number: int, frame: FrameType | None) -> None:
    """Before the command line is ready: print the one line and exit at once."""
    print(Interrupted(signal_number).message, file=sys.stderr)
    sys.exit(128 + signal_number)

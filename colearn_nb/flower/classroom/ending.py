"""One way out of ``host`` and ``join``, however they are ended: Enter, Ctrl-C, SIGTERM or SIGHUP.

Within ``Ending``, SIGINT (Ctrl-C), SIGTERM (``kill``) and SIGHUP (the terminal window closed) raise
``ClassEnded`` in the main thread, as Enter does through ``Ending.end``; the command's own clean-up then
runs (every process it started ended by its group's id, the rounds done saved) while further signals are
ignored, so a second Ctrl-C cannot cut it short. SIGKILL cannot be caught: then the federation's
``ProcessGuard`` ends what was started.
"""
from __future__ import annotations

import _thread
import signal
from types import FrameType
from typing import Any

ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ClassEnded(KeyboardInterrupt):
    """The command was ended: ``how`` is ``"Enter"`` or the signal's name (``"SIGTERM"``)."""

    def __init__(self, how: str, exit_status: int):
        super().__init__(how)
        self.how, self.exit_status = how, exit_status


class Ending:
    """While open, the ending signals raise ``ClassEnded`` (once); ``end("Enter")`` does so from any thread.

    >>> with Ending() as ending:
    ...     try:
    ...         signal.raise_signal(signal.SIGTERM)
    ...     except ClassEnded as ended:
    ...         print(ended.how, ended.exit_status)
    SIGTERM 143
    """

    def __init__(self) -> None:
        self.how: str | None = None  # set by end() before it interrupts the main thread
        self.previous: dict[int, Any] = {}

    def __repr__(self) -> str:
        return f"Ending({'open' if self.previous else 'closed'}, how={self.how!r})"

    def __enter__(self) -> Ending:
        self.previous = {number: signal.signal(number, self._raise) for number in ENDING_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}

    def end(self, how: str) -> None:
        """End the command from another thread (the teacher pressed Enter): ``ClassEnded(how)``, status 0."""
        self.how = how
        _thread.interrupt_main(signal.SIGINT)

    def _raise(self, number: int, frame: FrameType | None) -> None:
        for ending in ENDING_SIGNALS:  # cleaning up is not interrupted again
            signal.signal(ending, signal.SIG_IGN)
        if self.how is not None:
            raise ClassEnded(self.how, 0)
        raise ClassEnded(signal.Signals(number).name, 128 + number)

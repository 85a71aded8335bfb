"""The monitor's terminal driver: Textual's own, except that a terminal that has gone away
(a closed window, a dropped SSH session, ``tmux kill-session``) cannot freeze the app.

Textual writes the screen from a thread through a queue of 30 writes. When the terminal hangs
up, that thread's next write fails (EIO), the thread dies, and the 31st frame blocks the event
loop for good in ``Queue.put`` — with it every asyncio signal handler: SIGHUP and SIGTERM were
caught and never acted on, and only ``kill -9`` ended the process. A dialog open over the
monitor repaints more per second, so it filled the queue before the SIGHUP was handled more
often. Here the output file swallows the failure (the thread lives on, writing nowhere) and
raises SIGHUP once, so a terminal that dies without one still ends the session the documented
way: load stopped, scaling restored, recording finished.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import IO

from textual.drivers.linux_driver import LinuxDriver


class HangupSafeOutput:
    """A text stream that turns its first write or flush failure into a SIGHUP to this
    process and then discards everything."""

    def __init__(self, stream: IO[str], on_hangup=None) -> None:  # type: ignore[no-untyped-def]
        self.stream = stream
        self.dead = False
        self._lock = threading.Lock()
        self._on_hangup = on_hangup or (lambda: os.kill(os.getpid(), signal.SIGHUP))

    def write(self, text: str) -> int:
        if not self.dead:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):
                self._hung_up()
        return len(text)

    def flush(self) -> None:
        if not self.dead:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._hung_up()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return not self.dead and self.stream.isatty()

    def _hung_up(self) -> None:
        with self._lock:
            if self.dead:
                return
            self.dead = True
        self._on_hangup()


class MonitorDriver(LinuxDriver):
    """``LinuxDriver`` writing through a ``HangupSafeOutput``."""

    def __init__(self, app, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(app, **kwargs)
        self._file = HangupSafeOutput(self._file or sys.__stderr__)  # type: ignore[arg-type]

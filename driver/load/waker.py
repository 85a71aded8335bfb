"""Wake at a ``time.perf_counter`` instant with sub-millisecond precision and no spinning.

uvloop's timers tick in whole milliseconds (a 0.4 ms sleep returns at once, a 1.6 ms one wakes
after 1 or 2 ms), so the sender used to yield to the loop in a busy cycle for the last part of
every wait: at 500 req/s that spinning cost more CPU than the requests. On Linux a timerfd
armed at the absolute intended time wakes the loop through epoll within tens of microseconds
and costs nothing while it waits; ``perf_counter`` is CLOCK_MONOTONIC there, the timerfd's
clock. Elsewhere (or if the timerfd cannot be made) the waker falls back to loop timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import struct
import sys
import time
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


_ITIMERSPEC = struct.Struct("qqqq")  # it_interval (sec, nsec), it_value (sec, nsec)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or _ITIMERSPEC.size != 32:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        # No argtypes for settime: a ctypes buffer passes as its address, and ctypes skips
        # converting each argument (arming went from 5.3 to 1.9 µs, once a request).
        libc.timerfd_settime.argtypes = None
        libc.timerfd_settime.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


class Waker:
    """Call ``callback`` at a perf_counter instant (``arm``), never before it; re-arming
    replaces the previous instant. One pending call at most."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._fd = -1
        self._spec = ctypes.create_string_buffer(_ITIMERSPEC.size)
        self._when = 0.0  # the instant armed
        self._armed = False  # armed since the last call
        self._libc = _libc()
        self._handle: asyncio.TimerHandle | None = None
        if self._libc is not None:
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                loop.add_reader(fd, self._fired)

    @property
    def precise(self) -> bool:
        return self._fd >= 0

    def _fired(self) -> None:
        if time.perf_counter() < self._when:
            return  # re-armed after it fired (which cleared the expiry): not due yet
        self._armed = False
        self._callback()
        if not self._armed:
            # Nothing re-armed it: clear the expiry so the loop stops reporting it. (Arming
            # clears it too, which spares this read, a system call, on every send.)
            with contextlib.suppress(BlockingIOError):
                os.read(self._fd, 8)

    def arm(self, when: float) -> None:
        if self._fd >= 0:
            seconds = int(when)
            # An it_value of zero would disarm the timer: at least one nanosecond.
            _ITIMERSPEC.pack_into(self._spec, 0, 0, 0, seconds,
                                  max(1, int((when - seconds) * 1e9)))
            assert self._libc is not None
            if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, self._spec, None) == 0:
                self._when, self._armed = when, True
                return
        # No timerfd here: the loop's own timers (whole milliseconds under uvloop).
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(0.0, when - time.perf_counter()),
                                             self._callback)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

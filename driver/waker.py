"""Sleep until a ``time.perf_counter`` instant with sub-millisecond precision and no spinning.

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
import sys

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.timerfd_settime.argtypes = (ctypes.c_int, ctypes.c_int,
                                         ctypes.POINTER(_Itimerspec), ctypes.c_void_p)
    except (OSError, AttributeError):
        return None
    return libc


class Waker:
    """``await waker.sleep_until(t)``: resume at perf_counter ``t`` (never before it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self._fd = -1
        self._spec = _Itimerspec()
        self._libc = _libc()
        if self._libc is not None:
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                loop.add_reader(fd, self._fired)

    @property
    def precise(self) -> bool:
        return self._fd >= 0

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def sleep_until(self, when: float) -> None:
        if self._fd < 0:
            import time

            await asyncio.sleep(max(0.0, when - time.perf_counter()))
            return
        seconds = int(when)
        self._spec.it_value.tv_sec = seconds
        self._spec.it_value.tv_nsec = int((when - seconds) * 1e9)
        assert self._libc is not None
        if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec),
                                      None) != 0:
            await asyncio.sleep(0)
            return
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

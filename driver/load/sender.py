"""A load worker's open-loop sender (``OpenLoopSender``): requests go out at their intended times
from the pure schedule, run by a precise timer, never early, whatever happens to the ones
already sent.

It takes its share of the schedule from the worker's ``Pacer``, the next request from the
``RequestPicker``, and starts each through the request path's ``start``; requests due while
the in-flight cap is reached, or owed after the schedule's end, are counted as not sent in the
``RequestCounter``'s current second.
"""

from __future__ import annotations

import asyncio
import time

from driver.load.accounting import RequestCounter
from driver.load.request_path import StartRequest
from driver.load.scenarios import RequestPicker
from driver.load.waker import Waker
from driver.schedule import Pacer

# When this worker's sends come closer together than this, one wake-up sends all those due
# within it: the timer is armed this long after the next intended time, so that send is up
# to this late (counted as send lag) and the following ones go with it. Further apart, each
# send has its own wake-up at its intended time. Never earlier than intended either way.
# (The sender used to yield to the loop in a busy cycle for waits under 0.1 ms: at 10,000
# req/s that spinning held the worker's core at 0.9 and more.)
COALESCE_S = 0.00025
# Sends (or drops) in a row before the sender yields to the loop, whatever the rate.
SEND_BURST = 32
# Long waits are cut into slices so a rate change or a stop is noticed promptly.
MAX_SLEEP_S = 0.05


class OpenLoopSender:
    """Sends a worker's share of the schedule (``run``) until it ends or a ``stop``; ``late_s``
    is how late a request may be once the schedule is over and still go."""

    _loop: asyncio.AbstractEventLoop
    _sending: asyncio.Future[None]
    _waker: Waker

    def __init__(self, pacer: Pacer, duration: float, max_in_flight: int, late_s: float,
                 picker: RequestPicker, start: StartRequest, counter: RequestCounter) -> None:
        self.pacer = pacer
        self.duration = duration  # the schedule's, in elapsed seconds
        self.max_in_flight = max_in_flight
        self.late_s = late_s
        self.next_request = picker.next
        self.start = start
        self.counter = counter
        self.in_flight = counter.in_flight
        self.t0 = 0.0
        self.stopping = False

    def stop(self) -> None:
        """Send nothing more (noticed at the next wake-up, within ``MAX_SLEEP_S``)."""
        self.stopping = True

    async def run(self, t0: float) -> None:
        """Send on schedule from ``t0`` (perf_counter of elapsed 0) until it ends or a stop:
        ``_pump`` does it, run by a timer."""
        self.t0 = t0
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._sending = loop.create_future()
        self._waker = Waker(loop, self._pump)
        loop.call_soon(self._pump)
        try:
            await self._sending
        finally:
            self._waker.close()

    def _pump(self) -> None:
        """Send what is due, then arrange to be called again: at the next intended time (a
        precise timer, no spinning), or at once after ``SEND_BURST`` sends so the loop can
        read answers and commands. A callback, not a coroutine: resuming a task per wake-up
        was a measurable share of the CPU per request at ordinary rates."""
        done = self._sending
        if done.done():
            return
        try:
            self._pump_once()
        except BaseException as exc:  # the run must end, not hang
            if not done.done():
                done.set_exception(exc)

    def _pump_once(self) -> None:
        pacer = self.pacer
        perf = time.perf_counter
        t0 = self.t0
        duration = self.duration
        cap = self.max_in_flight
        in_flight = self.in_flight
        counter = self.counter
        send = self.start
        for _ in range(SEND_BURST):
            if self.stopping:
                self._sending.set_result(None)
                return
            intended = pacer.peek()
            now = perf() - t0
            if intended is None:
                if now >= duration:
                    self._sending.set_result(None)
                else:
                    self._waker.arm(t0 + min(duration, now + MAX_SLEEP_S))
                return
            wait = intended - now
            if wait > 0:
                wake = intended
                if wait < COALESCE_S:
                    # Imminent: is the one after it imminent too? (this worker's share of the
                    # rate then; the look-up only when the next send is this close)
                    rate = pacer.rate.rate_at(intended) / pacer.workers
                    if rate * COALESCE_S > 1.0:
                        wake = intended + COALESCE_S
                self._waker.arm(t0 + min(wake, now + MAX_SLEEP_S))
                return
            if now >= duration and now - intended > self.late_s:
                # The schedule is over and what it still owes is late: not sent (an absurd
                # rate would otherwise keep a 2 s run sending for minutes).
                counter.bucket.not_sent += pacer.remaining()
                self._sending.set_result(None)
                return
            if len(in_flight) >= cap:
                # All requests due by now find the cap reached too: drop them at once.
                counter.bucket.not_sent += pacer.skip_until(now)
                continue
            pacer.take()
            seq, request_id, spec = self.next_request()
            send(seq, request_id, spec, intended + t0)
        # Behind schedule (or an absurd rate): everything due is due now, but the loop must
        # still read answers, commands and the clock.
        self._loop.call_soon(self._pump)

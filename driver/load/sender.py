"""The open-loop sender of a load worker (``driver.load.worker.Worker``): requests go out at their
intended times from the pure schedule, run by a precise timer, never early.

A mixin of ``Worker``: it reads the worker's pacer, clock origin, in-flight requests and
client, and hands each request to ``Worker.start_request``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from driver.http import HttpError, Prepared, Wire, encode
from driver.load.waker import Waker
from metrics.records import OTHER

if TYPE_CHECKING:
    from driver.http import Client
    from driver.load.worker import WorkerRequest

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
    """``Worker``'s open-loop sending (``_send``) and its one request path (``_send_one``)."""

    _loop: asyncio.AbstractEventLoop
    _sending: asyncio.Future[None]
    _waker: Waker
    _wires: dict[int, tuple[Any, ...]]  # request id -> what it was encoded from

    async def _send(self, client: Client) -> None:
        """Send on schedule until it ends or a stop: ``_pump`` does it, run by a timer."""
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
        duration = self.base_rate.duration
        cap = self.config.max_in_flight
        in_flight = self.in_flight
        send = self.start_request
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
            if now >= duration and now - intended > self._late_s:
                # The schedule is over and what it still owes is late: not sent (an absurd
                # rate would otherwise keep a 2 s run sending for minutes).
                self.bucket.not_sent += pacer.remaining()
                self._sending.set_result(None)
                return
            if len(in_flight) >= cap:
                # All requests due by now find the cap reached too: drop them at once.
                self.bucket.not_sent += pacer.skip_until(now)
                continue
            pacer.take()
            request_id, spec = self._pick(self._sent_count)
            self._sent_count += 1
            send(self._sent_count, request_id, spec, intended + t0)
        # Behind schedule (or an absurd rate): everything due is due now, but the loop must
        # still read answers, commands and the clock.
        self._loop.call_soon(self._pump)

    def _send_one(self, seq: int, request_id: int, spec: WorkerRequest,
                  intended: float) -> None:
        prepared = self.target.prepare(request_id, spec.method, spec.url, spec.headers,
                                       spec.body, self.epoch0 + (intended - self.t0))
        flight = self._flight_type(self, seq, intended)
        self.in_flight[seq] = flight
        try:
            wire = self._wire(request_id, prepared)
        except ValueError as exc:  # a request that cannot be encoded (bad URL or header)
            flight.on_sent()
            flight.on_done(None, HttpError(OTHER, "InvalidRequest", str(exc)[:300]))
            return
        assert self.client is not None
        self.client.submit(flight, wire)

    def _wire(self, request_id: int, prepared: Prepared) -> Wire:
        """The request's bytes, encoded once per distinct prepared request (a plain target
        hands out the same ``Prepared`` every time; a signing one a new one per request)."""
        cached = self._wires.get(request_id)
        if cached is not None and (cached[0] is prepared or (
                cached[1] is prepared.headers and cached[2] is prepared.body
                and cached[3] == prepared.url and cached[4] == prepared.method)):
            return cached[5]
        wire = encode(prepared.method, prepared.url, prepared.headers, prepared.body)
        self._wires[request_id] = (prepared, prepared.headers, prepared.body, prepared.url,
                                   prepared.method, wire)
        return wire

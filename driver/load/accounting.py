"""What a load worker counts (``RequestCounter``): its requests in flight, each request's send
and end in the elapsed second's ``Bucket``, error events, and the tick each second becomes.

A tick's ``in_flight`` is the mean number of requests in flight over its second (time-weighted,
each request from its intended send to its end): Little's law's L, so it equals the second's
completions times their mean latency, in open loop and concurrency mode alike (issue 25). A
count taken at the second's end missed the request whose completion closed the second.

The request paths report here (``sent``, ``ended``, ``unsent``); whatever sits in the in-flight
map offers ``InFlight``, so the worker's timeout sweep, kill and drain treat every path alike.
The counter emits ticks and error events; it never sends anything.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from driver.http import HttpError
from driver.load.bucket import Bucket
from driver.pool import EventMessage, Message, TickMessage
from driver.schedule import Pacer, RateFunction
from metrics.records import OK, Event, Tick

# An error code is reported as an event when first seen, then at most this often.
ERROR_EVENT_INTERVAL_S = 30.0


class InFlight(Protocol):
    """What the worker reads of a request in ``RequestCounter.in_flight``, whichever path sent
    it: ``driver.load.plain_request`` (the lean client) or ``driver.load.stream_request``.
    ``sent`` is 0 until the request has a connection; ``abort`` ends it at once (its outcome
    counted then)."""

    seq: int
    intended: float
    sent: float

    def abort(self, error: HttpError) -> None: ...


class RequestCounter:
    """One worker's requests in flight and its counts, a ``Bucket`` per elapsed second."""

    def __init__(self, emit: Callable[[Message], None], index: int, schedule: RateFunction,
                 phase_names: Sequence[str], pacer: Pacer, late_s: float,
                 fill: Callable[[Tick], None] | None = None) -> None:
        self.emit = emit  # hands one message to the controller
        self.index = index  # the worker's, in every tick and event
        self.schedule = schedule  # the phases as planned: phase index and end of schedule
        self.phase_names = phase_names
        self.pacer = pacer  # with the live controls: the tick's target rate
        self.late_s = late_s
        self.fill = fill  # adds a request path's own figures to each tick (streams)
        # request sequence number -> the request, sent or waiting for a connection
        self.in_flight: dict[int, InFlight] = {}
        self.t0 = 0.0
        self.epoch0 = 0.0
        self.bucket = Bucket(0)
        self.totals = [0, 0, 0]  # sent, completed, not sent: over every tick emitted
        self.collect_garbage = False  # set when the automatic collector is off
        self._last_error_event: dict[str, float] = {}
        self._error_counts_since: dict[str, int] = {}
        self._drained: asyncio.Future[None] | None = None  # see drained
        self._busy = 0.0  # request-seconds in flight so far in the current bucket's second

    def start(self, t0: float, epoch0: float, second: int) -> None:
        """Count from ``t0`` (perf_counter; ``epoch0`` its UTC time), from elapsed ``second``
        on (a replacement worker takes a lost one's share over mid-run)."""
        self.t0, self.epoch0 = t0, epoch0
        self.bucket = Bucket(second)
        self._busy = 0.0

    # --- what the request paths report ---------------------------------------------------

    def sent(self, flight: InFlight) -> None:
        """The request got a connection: it is sent (waiting for one was send lag)."""
        bucket = self.bucket
        if flight.sent - self.t0 >= bucket.second + 1:  # (the call only when it changes)
            bucket = self._bucket_at(flight.sent)
        bucket.sent += 1
        lag = flight.sent - flight.intended
        bucket.lag.append(int(lag * 1e6))
        if lag > self.late_s:
            bucket.late += 1

    def ended(self, flight: InFlight, kind: str, status: int, code: str | None,
              message: str | None, end: float, retried: bool) -> None:
        """The request is over (``kind`` its outcome class, ``status`` 0 without an answer):
        counted in the second it ended, its latency from the intended send."""
        bucket = self.bucket
        if end - self.t0 >= bucket.second + 1:  # close the second first: it was in flight then
            bucket = self._bucket_at(end)
        in_flight = self.in_flight
        in_flight.pop(flight.seq, None)
        self._busy += max(end - max(flight.intended, self.t0 + bucket.second), 0.0)
        bucket.completed += 1
        outcomes = bucket.outcomes
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if status:
            key = str(status)
            bucket.status[key] = bucket.status.get(key, 0) + 1
        if kind == OK:
            bucket.latency.append(int((end - flight.intended) * 1e6))
            bucket.service.append(int((end - flight.sent) * 1e6))
        else:
            if code:
                bucket.errors[code] = bucket.errors.get(code, 0) + 1
                self._note_error(kind, code, message or "", status, end)
            elif status:  # a bare HTTP error: the status is its name in the event log
                self._note_error(kind, f"HTTP {status}", message or "", status, end)
            bucket.failed_latency.append(int((end - flight.intended) * 1e6))
        if retried:
            bucket.retried += 1
        if not in_flight and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def interrupted(self, flight: InFlight) -> None:
        """The operator's stop (a kill, q, Ctrl-C, a signal) cut a sent request: counted apart
        in ``Tick.interrupted``, neither a completion nor an error."""
        self.in_flight.pop(flight.seq, None)
        self.bucket.interrupted += 1

    def unsent(self, flight: InFlight) -> None:
        """A request ended before it had a connection: not sent (nor counted in flight)."""
        del self.in_flight[flight.seq]
        self.bucket.not_sent += 1

    def roll(self, now: float) -> None:
        """Close the seconds before ``now`` (perf_counter): a request path calls it before it
        records a request's own figures, so they land in the same second as its completion."""
        if now - self.t0 >= self.bucket.second + 1:
            self._bucket_at(now)

    def _mean_in_flight(self, second: int) -> float:
        """Request-seconds in flight during ``second`` (mean requests in flight): those that
        ended in it were added as they ended, those still in flight count to its end."""
        start, end = self.t0 + second, self.t0 + second + 1
        busy = self._busy
        for flight in self.in_flight.values():
            busy += max(end - max(flight.intended, start), 0.0)
        self._busy = 0.0
        return round(busy, 3)

    # --- the drain -----------------------------------------------------------------------

    def drained(self) -> asyncio.Future[None]:
        """A future done once no request is in flight any more (the drain waits for it)."""
        self._drained = asyncio.get_running_loop().create_future()
        self.check_drained()
        return self._drained

    def check_drained(self) -> None:
        """Requests left without ``ended`` (not sent, interrupted): was that the last?"""
        if not self.in_flight and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # --- seconds and ticks ---------------------------------------------------------------

    def _bucket_at(self, now: float) -> Bucket:
        """The bucket of the second ``now`` (perf_counter) falls in.

        The ticker's timer can wake a little after a second's end; a send or completion in
        that gap belongs to the new second, so the bucket is closed here first. Sends are then
        counted in exactly the second they happened, which a lost worker's share relies on.
        """
        bucket = self.bucket
        while now - self.t0 >= bucket.second + 1:
            self.emit_tick()
            bucket = self.bucket
        return bucket

    async def ticker(self) -> None:
        """Close a bucket at every elapsed second and send it as a tick."""
        while True:
            delay = self.t0 + self.bucket.second + 1 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # a send or completion may have closed the bucket meanwhile
            self.emit_tick()

    def emit_tick(self, final: bool = False) -> None:
        bucket = self.bucket
        if final and bucket.empty:
            return
        self.bucket = Bucket(bucket.second + 1)
        totals = self.totals
        totals[0] += bucket.sent
        totals[1] += bucket.completed
        totals[2] += bucket.not_sent
        start = float(bucket.second)
        tick = bucket.tick(self.epoch0, self.schedule.phase_index_at(start),
                           self.pacer.due_between(start, start + 1),
                           self._mean_in_flight(bucket.second), start < self.schedule.duration)
        if tick.phase_index < len(self.phase_names):
            tick.phase = self.phase_names[tick.phase_index]
        if self.fill is not None:
            self.fill(tick)
        self.emit(TickMessage(self.index, tick))
        if self.collect_garbage:
            self._collect_garbage(bucket.second)

    def _note_error(self, kind: str, code: str, message: str, status: int, now: float) -> None:
        self._error_counts_since[code] = self._error_counts_since.get(code, 0) + 1
        last = self._last_error_event.get(code)
        if last is not None and now - last < ERROR_EVENT_INTERVAL_S:
            return
        count = self._error_counts_since.pop(code)
        self._last_error_event[code] = now
        elapsed = now - self.t0
        self.emit(EventMessage(self.index, Event(
            self.epoch0 + elapsed, elapsed, "target", "error",
            f"{code}: {message}" if message else code,
            {"code": code, "outcome": kind, "status": status, "count": count,
             "first": last is None, "worker": self.index})))

    def _collect_garbage(self, second: int) -> None:
        """With the automatic collector off: young generations each second, all each minute.

        Requests are freed by reference counting (measured: no cycles per request); what
        needs the collector is a few objects a second (a streamed request's histograms'
        ctypes arrays), so the cost lands in one known spot per second rather than mid-send.
        """
        gc.collect(2 if second % 60 == 59 else 1)

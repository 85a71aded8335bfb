"""What a load worker counts: each request's send and end into the second's ``Bucket``, error
events, and the tick each second becomes. Also the worker's requests in flight (``InFlight``,
``_Flight``): the lean client's flights report here.

A mixin of ``driver.load.worker.Worker``; ``driver.load.stream_request`` calls ``_sent``,
``_ended`` and ``_unsent`` for streamed requests, the lean client's flights ``_sent`` and ``_done``.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Protocol

from driver.http import Flight, HttpError, Response
from driver.load.bucket import Bucket
from driver.pool import EventMessage, TickMessage
from metrics.records import OK, Event

if TYPE_CHECKING:
    from driver.load.worker import Worker

# An error code is reported as an event when first seen, then at most this often.
ERROR_EVENT_INTERVAL_S = 30.0


class RequestAccounting:
    """``Worker``'s counting of requests into buckets and ticks."""

    def _bucket_at(self, now: float) -> Bucket:
        """The bucket of the second ``now`` (perf_counter) falls in.

        The ticker's timer can wake a little after a second's end; a send or completion in
        that gap belongs to the new second, so the bucket is closed here first. Sends are then
        counted in exactly the second they happened, which a lost worker's share relies on.
        """
        bucket = self.bucket
        while now - self.t0 >= bucket.second + 1:
            self._emit_tick()
            bucket = self.bucket
        return bucket

    def _sent(self, flight: InFlight) -> None:
        """The request got a connection: it is sent (waiting for one was send lag)."""
        bucket = self.bucket
        if flight.sent - self.t0 >= bucket.second + 1:  # (the call only when it changes)
            bucket = self._bucket_at(flight.sent)
        bucket.sent += 1
        lag = flight.sent - flight.intended
        bucket.lag.append(int(lag * 1e6))
        if lag > self._late_s:
            bucket.late += 1

    def _done(self, flight: _Flight, response: Response | None,
              error: HttpError | None) -> None:
        end = time.perf_counter()
        self.in_flight.pop(flight.seq, None)
        if response is not None:
            status = response.status
            outcome = self.target.classify(status, response.headers, response.body)
            kind, code, message = outcome.kind, outcome.code, outcome.message
            retried = response.retried
        else:
            assert error is not None
            status, kind, code, message = 0, error.kind, error.code, error.message[:300]
            retried = error.retried
        self._complete(kind, status, code, message, flight.intended, flight.sent, end)
        if retried:
            self.bucket.retried += 1
        if not self.in_flight and self._all_done is not None and not self._all_done.done():
            self._all_done.set_result(None)

    def _ended(self, flight: InFlight, kind: str, status: int, code: str | None,
               message: str | None, end: float) -> None:
        """A request that did not go through the client (a stream) is over: as ``_done``."""
        self.in_flight.pop(flight.seq, None)
        self._complete(kind, status, code, message, flight.intended, flight.sent, end)
        if self._on_end is not None:
            self._on_end()
        if not self.in_flight and self._all_done is not None and not self._all_done.done():
            self._all_done.set_result(None)

    def _unsent(self, flight: InFlight) -> None:
        """A request ended before it had a connection: not sent."""
        del self.in_flight[flight.seq]
        self.bucket.not_sent += 1

    def _complete(self, kind: str, status: int, code: str | None, message: str | None,
                  intended: float, actual: float, end: float) -> None:
        bucket = self.bucket
        if end - self.t0 >= bucket.second + 1:
            bucket = self._bucket_at(end)
        bucket.completed += 1
        outcomes = bucket.outcomes
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if status:
            key = str(status)
            bucket.status[key] = bucket.status.get(key, 0) + 1
        if kind == OK:
            bucket.latency.append(int((end - intended) * 1e6))
            bucket.service.append(int((end - actual) * 1e6))
            return
        if code:
            bucket.errors[code] = bucket.errors.get(code, 0) + 1
            self._note_error(kind, code, message or "", status, end)
        elif status:  # a bare HTTP error: the status is its name in the event log
            self._note_error(kind, f"HTTP {status}", message or "", status, end)
        bucket.failed_latency.append(int((end - intended) * 1e6))

    def _note_error(self, kind: str, code: str, message: str, status: int, now: float) -> None:
        self._error_counts_since[code] = self._error_counts_since.get(code, 0) + 1
        last = self._last_error_event.get(code)
        if last is not None and now - last < ERROR_EVENT_INTERVAL_S:
            return
        count = self._error_counts_since.pop(code)
        self._last_error_event[code] = now
        elapsed = now - self.t0
        self.emit(EventMessage(self.config.index, Event(
            self.epoch0 + elapsed, elapsed, "target", "error",
            f"{code}: {message}" if message else code,
            {"code": code, "outcome": kind, "status": status, "count": count,
             "first": last is None, "worker": self.config.index})))

    def _emit_tick(self, final: bool = False) -> None:
        bucket = self.bucket
        if final and bucket.empty:
            return
        self.bucket = Bucket(bucket.second + 1)
        totals = self.totals
        totals[0] += bucket.sent
        totals[1] += bucket.completed
        totals[2] += bucket.not_sent
        start = float(bucket.second)
        tick = bucket.tick(self.epoch0, self.base_rate.phase_index_at(start),
                           self.pacer.due_between(start, start + 1), len(self.in_flight),
                           start < self.base_rate.duration)
        if tick.phase_index < len(self.config.phases):
            tick.phase = self.config.phases[tick.phase_index].name
        if self.llm is not None:
            self.llm.fill(tick)
        self.emit(TickMessage(self.config.index, tick))
        if self.collect_garbage:
            self._collect_garbage(bucket.second)

    def _collect_garbage(self, second: int) -> None:
        """With the automatic collector off: young generations each second, all each minute.

        Requests are freed by reference counting (measured: no cycles per request); what
        needs the collector is a few objects a second (a streamed request's histograms'
        ctypes arrays), so the cost lands in one known spot per second rather than mid-send.
        """
        gc.collect(2 if second % 60 == 59 else 1)


class _Flight(Flight):
    """One request of the worker: when it was intended and sent; reports back to the worker."""

    __slots__ = ("intended", "sent", "seq", "worker")

    def __init__(self, worker: Worker, seq: int, intended: float) -> None:
        # Flight's fields set here rather than through super(): one call fewer a request.
        self.connection = self.task = self.wire = None
        self.worker, self.seq, self.intended = worker, seq, intended
        self.sent = 0.0

    def on_sent(self) -> None:
        self.sent = time.perf_counter()
        self.worker._sent(self)

    def on_done(self, response: Response | None, error: HttpError | None) -> None:
        self.worker._done(self, response, error)

    def abort(self, error: HttpError) -> None:
        """End it now (timeout, kill): the client settles it at once."""
        assert self.worker.client is not None
        self.worker.client.abort(self, error)


class _WatchedFlight(_Flight):
    """Concurrency mode's plain request: the closed loop hears when it ends."""

    __slots__ = ()

    def on_done(self, response: Response | None, error: HttpError | None) -> None:
        worker = self.worker
        worker._done(self, response, error)
        worker._on_end()  # type: ignore[misc]


class InFlight(Protocol):
    """What the worker reads of a request in ``Worker.in_flight``, whichever path sent it:
    ``_Flight`` (the lean client) or ``driver.load.stream_request.Stream``. ``sent`` is 0 until
    the request has a connection; ``abort`` ends it at once (its outcome counted then)."""

    seq: int
    intended: float
    sent: float

    def abort(self, error: HttpError) -> None: ...

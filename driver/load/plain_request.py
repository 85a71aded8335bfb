"""The worker's request path for a plain target (``PlainRequests``): the lean HTTP/1.1 client of
``driver.http.client``, one ``_Flight`` per request, no task and no timer per request.

Each request is prepared by the target (a signing target signs it), encoded once per distinct
prepared request, and submitted to the client. Its flight sits in the counter's in-flight map
and reports to the ``RequestCounter`` itself: sent when it has a connection, ended with the
answer the target classifies (or the client's error). Waiting for a connection is send lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from driver.http import Client, Flight, HttpError, HttpTarget, Prepared, Response, Wire, encode
from driver.load.accounting import RequestCounter
from driver.load.request_path import CANCELLED
from driver.load.scenarios import WorkerRequest
from metrics.records import OTHER

# What a kill aborts sent requests with: ``done`` counts them interrupted, not as errors.
INTERRUPTED = HttpError(OTHER, "Interrupted", "cut by the operator's stop")


class PlainRequests:
    """One worker's requests through the lean client (a ``RequestPath``)."""

    def __init__(self, target: HttpTarget, counter: RequestCounter) -> None:
        self.target = target
        self.counter = counter
        self.in_flight = counter.in_flight
        # Bound once: every flight calls them (one look-up each, no layer in between).
        self.count_sent = counter.sent
        self.count_ended = counter.ended
        self.client: Client | None = None
        self.t0 = 0.0
        self.epoch0 = 0.0
        self.on_end: Callable[[], None] | None = None  # see watch_ends
        self._flight_type: type[_Flight] = _Flight
        self._wires: dict[int, tuple[Any, ...]] = {}  # request id -> what it was encoded from

    def open(self, client: Client, t0: float, epoch0: float) -> None:
        self.client, self.t0, self.epoch0 = client, t0, epoch0

    def start(self, seq: int, request_id: int, spec: WorkerRequest, intended: float) -> None:
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

    def done(self, flight: _Flight, response: Response | None,
             error: HttpError | None) -> None:
        """The client is done with a request: its answer, as the target classifies it."""
        if error is INTERRUPTED:
            self.counter.interrupted(flight)
            return
        end = time.perf_counter()
        if response is not None:
            status = response.status
            outcome = self.target.classify(status, response.headers, response.body)
            kind, code, message = outcome.kind, outcome.code, outcome.message
            retried = response.retried
        else:
            assert error is not None
            status, kind, code, message = 0, error.kind, error.code, error.message[:300]
            retried = error.retried
        self.count_ended(flight, kind, status, code, message, end, retried)

    def watch_ends(self, callback: Callable[[], None]) -> None:
        """Requests then use a flight that calls ``callback``: the open-loop path stays as
        it is."""
        self.on_end = callback
        self._flight_type = _WatchedFlight

    def end_all(self, killed: bool) -> None:
        """Requests still waiting for a connection are not sent; sent ones are interrupted by
        a kill (the operator's stop, not the endpoint's failure) or, at the drain's end,
        cancelled as errors."""
        if self.client is not None:
            for flight in self.client.withdraw_all():
                self.counter.unsent(flight)  # type: ignore[arg-type]
        error = INTERRUPTED if killed else HttpError(OTHER, "Cancelled", CANCELLED)
        for flight in list(self.in_flight.values()):
            flight.abort(error)

    async def close(self) -> None:
        """Nothing to release: the client belongs to the worker's process."""


class _Flight(Flight):
    """One request: when it was intended and sent; reports to its path's counter."""

    __slots__ = ("intended", "owner", "sent", "seq")

    def __init__(self, owner: PlainRequests, seq: int, intended: float) -> None:
        # Flight's fields set here rather than through super(): one call fewer a request.
        self.connection = self.task = self.wire = None
        self.owner, self.seq, self.intended = owner, seq, intended
        self.sent = 0.0

    def on_sent(self) -> None:
        self.sent = time.perf_counter()
        self.owner.count_sent(self)

    def on_done(self, response: Response | None, error: HttpError | None) -> None:
        self.owner.done(self, response, error)

    def abort(self, error: HttpError) -> None:
        """End it now (timeout, kill): the client settles it at once."""
        assert self.owner.client is not None
        self.owner.client.abort(self, error)


class _WatchedFlight(_Flight):
    """Concurrency mode's plain request: the closed loop hears when it ends."""

    __slots__ = ()

    def on_done(self, response: Response | None, error: HttpError | None) -> None:
        owner = self.owner
        owner.done(self, response, error)
        owner.on_end()  # type: ignore[misc]

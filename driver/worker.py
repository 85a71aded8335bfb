"""A load worker: one process, one uvloop event loop, one lean HTTP/1.1 client (driver/http1).

A streaming LLM target's requests go through ``driver.stream_request`` instead (its own aiohttp
session, a task per request); ``Worker.start_request`` is the one hook both paths share, and
``Worker.in_flight`` holds either path's requests (``InFlight``). The process around a worker
(stdin/stdout, signals) is ``driver.worker_process``; one second's counts are a
``driver.bucket.Bucket``.

The contract is ``driver.protocol`` (JSON Lines; a distributed pool passes the same objects):

- stdin, first line: the ``WorkerConfig``; then commands: ``Start`` (the perf_counter of
  elapsed 0 and its UTC epoch), ``SetControls`` (every live control so far), ``Stop`` (stop
  sending, let requests in flight finish) and ``Kill`` (stop sending and cancel everything in
  flight now). End of stdin means the controller is gone: the worker kills its load and exits.
- stdout: ``Ready``, then one ``TickMessage`` per elapsed second (a ``metrics.records.Tick``),
  ``EventMessage``s (an error code's first sighting, with its message), and finally ``Done``.

Timing: ``time.perf_counter`` is CLOCK_MONOTONIC on Linux and the same clock in every process,
so the controller hands out one ``t0``. Intended send times come from the pure schedule; latency
is completion minus intended time, service time is completion minus actual send.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import driver
from driver.bucket import Bucket
from driver.http1 import Client, Flight, HttpError, Response, Wire, encode
from driver.protocol import (
    Command,
    EventMessage,
    Kill,
    Message,
    SetControls,
    Start,
    Stop,
    TickMessage,
    WorkerConfig,
)
from driver.schedule import Control, Pacer, RateFunction
from driver.targets import HttpTarget, Prepared, make_target
from driver.waker import Waker
from metrics.records import OK, OTHER, TIMEOUT, Event

if TYPE_CHECKING:
    from driver.stream_request import LlmRequests

# Waits shorter than this yield to the loop once (at such rates it has responses to read);
# longer ones sleep on a precise timer (driver/waker.py) until the intended time.
SPIN_BELOW_S = 0.0001
# Sends (or drops) in a row before the sender yields to the loop, whatever the rate.
SEND_BURST = 32
# Long waits are cut into slices so a rate change or a stop is noticed promptly.
MAX_SLEEP_S = 0.05
# After the schedule ends, requests in flight get this long (at most) before being cancelled.
DRAIN_GRACE_S = 10.0
USER_AGENT = f"loadwatch/{driver.__version__}"
# Requests past their timeout are cancelled by a sweep this often.
TIMEOUT_SWEEP_S = 0.1
# An error code is reported as an event when first seen, then at most this often.
ERROR_EVENT_INTERVAL_S = 30.0


@dataclass
class WorkerRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None

    def __post_init__(self) -> None:
        # Say who we are.
        if not any(name.lower() == "user-agent" for name in self.headers):
            self.headers = {**self.headers, "User-Agent": USER_AGENT}


class Worker:
    def __init__(self, config: WorkerConfig, emit: Callable[[Message], None]) -> None:
        self.config = config
        self.emit = emit  # hands one message to the controller
        self.scenarios = [[WorkerRequest(r.method, r.url, r.headers, r.body) for r in requests]
                          for requests in config.scenarios]
        self.base_rate = RateFunction.from_phases(config.phases)
        self.pacer = Pacer(self.base_rate, config.index, config.workers, config.load.arrivals,
                           seed=config.seed + config.index)
        self.target: HttpTarget = make_target(config.target)
        self._random = random.Random(config.seed * 7919 + config.index)
        self._choices = self._scenario_sequence()
        self._row_position = [0] * len(config.scenarios)
        self.t0 = 0.0
        self.epoch0 = 0.0
        # request sequence number -> the request, sent or waiting for a connection
        self.in_flight: dict[int, InFlight] = {}
        self.client: Client | None = None
        self._all_done: asyncio.Future[None] | None = None  # set by _drain
        self._sent_count = 0  # requests handed to the client (their sequence numbers)
        self.bucket = Bucket(0)
        self.stopping = False
        self.killed = False
        self.started = asyncio.Event()
        self._last_error_event: dict[str, float] = {}
        self._error_counts_since: dict[str, int] = {}
        self._late_s = config.load.late_ms / 1000.0
        self._wires: dict[int, tuple[Any, ...]] = {}  # request id -> what it was encoded from
        self.collect_garbage = False  # set when the automatic collector is off
        self.totals = [0, 0, 0]  # sent, completed, not sent: over every tick emitted
        # How a request starts, the one hook both request paths share (open and closed loop):
        # the lean client's flights for plain targets (``_send_one``); a streamed request with
        # its own task and aiohttp session for a streaming LLM target (driver/stream_request).
        self.start_request: Callable[[int, int, WorkerRequest, float], None] = self._send_one
        self.llm: LlmRequests | None = None
        if config.target.get("llm"):
            from driver.stream_request import LlmRequests

            self.llm = LlmRequests(self, config.target["llm"])
            self.start_request = self.llm.start
        self._flight_type: type[_Flight] = _Flight
        self._on_end: Callable[[], None] | None = None  # see watch_ends

    # --- commands ---------------------------------------------------------------------

    def start(self, t0: float, epoch: float, at: float = 0.0) -> None:
        self.t0, self.epoch0 = t0, epoch
        if at > 0:  # a replacement: take the share over from elapsed `at`
            self.pacer.start_at(at)
            self.bucket = Bucket(int(at))
        self.started.set()

    def set_controls(self, controls: tuple[Control, ...]) -> None:
        self.pacer.rate = self.base_rate.with_controls(list(controls))

    def stop(self) -> None:
        self.stopping = True

    def kill(self) -> None:
        self.stopping = True
        self.killed = True
        self._end_all("cancelled by kill or end of run")

    def command(self, command: Command) -> None:
        """Apply one command from the controller."""
        match command:
            case Start(t0=t0, epoch=epoch, at=at):
                self.start(t0, epoch, at)
            case SetControls(controls=controls):
                self.set_controls(controls)
            case Stop():
                self.stop()
            case Kill():
                self.kill()

    # --- request selection --------------------------------------------------------------

    def _scenario_sequence(self) -> list[int]:
        """A shuffled sequence of scenario indexes in proportion to their weights."""
        weights = self.config.weights
        if len(weights) == 1:
            return [0]
        total = sum(weights)
        sequence = [i for i, w in enumerate(weights) for _ in range(round(1000 * w / total))]
        self._random.shuffle(sequence)
        return sequence or [0]

    def _pick(self, n: int) -> tuple[int, WorkerRequest]:
        scenario = self._choices[n % len(self._choices)]
        requests = self.scenarios[scenario]
        if len(requests) == 1:
            return scenario * 1_000_003, requests[0]
        if self.config.payload_order == "sequence":
            row = self._row_position[scenario]
            self._row_position[scenario] = (row + 1) % len(requests)
        else:
            row = self._random.randrange(len(requests))
        return scenario * 1_000_003 + row, requests[row]

    # --- the loops ----------------------------------------------------------------------

    async def run(self, client: Client) -> str:
        self.client = client
        await self.started.wait()
        if self.llm is not None:
            self.llm.open()
        ticker = asyncio.create_task(self._ticker())
        sweeper = asyncio.create_task(self._sweep_timeouts())
        try:
            if self.config.load.mode == "concurrency":
                from driver.concurrency import send_closed_loop

                await send_closed_loop(self)
            else:
                await self._send(client)
            await self._drain()
        finally:
            for task in (ticker, sweeper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.llm is not None:
                await self.llm.close()
            self._emit_tick(final=True)
        return "killed" if self.killed else ("stopped" if self.stopping else "completed")

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
                if wait < SPIN_BELOW_S:
                    self._loop.call_soon(self._pump)  # busy anyway: let answers in meanwhile
                else:
                    self._waker.arm(t0 + min(intended, now + MAX_SLEEP_S))
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

    def watch_ends(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a request ends (concurrency mode starts the next one).
        Plain requests then use a flight that calls it: the open-loop path stays as it is."""
        self._on_end = callback
        self._flight_type = _WatchedFlight

    def _end_all(self, message: str) -> None:
        """Kill or the end of the drain: requests still waiting are not sent, sent ones are
        cancelled."""
        if self.client is not None:
            for flight in self.client.withdraw_all():
                self._unsent(flight)  # type: ignore[arg-type]
        for flight in list(self.in_flight.values()):
            flight.abort(HttpError(OTHER, "Cancelled", message))
        if not self.in_flight and self._all_done is not None and not self._all_done.done():
            self._all_done.set_result(None)

    def _wire(self, request_id: int, prepared: Prepared) -> Wire:
        """The request's bytes, encoded once per distinct prepared request."""
        cached = self._wires.get(request_id)
        if (cached is not None and cached[0] is prepared.headers and cached[1] is prepared.body
                and cached[2] == prepared.url and cached[3] == prepared.method):
            return cached[4]
        wire = encode(prepared.method, prepared.url, prepared.headers, prepared.body)
        self._wires[request_id] = (prepared.headers, prepared.body, prepared.url,
                                   prepared.method, wire)
        return wire

    async def _sweep_timeouts(self) -> None:
        """End requests past the timeout, a few times a second.

        One sweep instead of a timer per request: per-request timers were a measurable share
        of the worker's CPU at thousands of requests per second. Timeouts are therefore
        precise to about ``TIMEOUT_SWEEP_S`` and count from the actual send.
        """
        timeout = self.config.timeout
        error_message = f"no response within {timeout:g} s"
        while True:
            await asyncio.sleep(TIMEOUT_SWEEP_S)
            deadline = time.perf_counter() - timeout
            expired = [f for f in self.in_flight.values() if f.sent and f.sent < deadline]
            for flight in expired:
                flight.abort(HttpError(TIMEOUT, "Timeout", error_message))

    def _complete(self, kind: str, status: int, code: str | None, message: str | None,
                  intended: float, actual: float, end: float) -> None:
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

    async def _ticker(self) -> None:
        """Close a bucket at every elapsed second and send it as a tick."""
        while True:
            delay = self.t0 + self.bucket.second + 1 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # a send or completion may have closed the bucket meanwhile
            self._emit_tick()

    def _collect_garbage(self, second: int) -> None:
        """With the automatic collector off: young generations each second, all each minute.

        Requests are freed by reference counting (measured: no cycles per request); what
        needs the collector is a few objects a second (a streamed request's histograms'
        ctypes arrays), so the cost lands in one known spot per second rather than mid-send.
        """
        gc.collect(2 if second % 60 == 59 else 1)

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

    async def _drain(self) -> None:
        if not self.in_flight:
            return
        self._all_done = asyncio.get_running_loop().create_future()
        # Streamed answers last seconds to minutes: they get their whole timeout to finish.
        grace = self.config.timeout if self.llm else min(self.config.timeout, DRAIN_GRACE_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._all_done), grace)
        self._end_all("cancelled by kill or end of run")


class _Flight(Flight):
    """One request of the worker: when it was intended and sent; reports back to the worker."""

    __slots__ = ("intended", "sent", "seq", "worker")

    def __init__(self, worker: Worker, seq: int, intended: float) -> None:
        super().__init__()
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
    ``_Flight`` (the lean client) or ``driver.stream_request.Stream``. ``sent`` is 0 until
    the request has a connection; ``abort`` ends it at once (its outcome counted then)."""

    seq: int
    intended: float
    sent: float

    def abort(self, error: HttpError) -> None: ...

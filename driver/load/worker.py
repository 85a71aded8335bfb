"""A load worker: one process, one uvloop event loop, one lean HTTP/1.1 client (driver/http1).

A streaming LLM target's requests go through ``driver.load.stream_request`` instead (its own aiohttp
session, a task per request); ``Worker.start_request`` is the one hook both paths share, and
``Worker.in_flight`` holds either path's requests (``InFlight``). The process around a worker
(stdin/stdout, signals) is ``driver.load.process``; one second's counts are a
``driver.load.bucket.Bucket``. The worker is split along its seams: the open-loop sender
(``driver.load.sender``), the counting of requests into seconds and ticks
(``driver.load.accounting``), and here the commands, the loops around them (ticker, timeout
sweep, drain) and what ends.

The contract is ``driver.pool.protocol`` (JSON Lines; a distributed pool passes the same objects):

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
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import driver
from driver.http import Client, HttpError, HttpTarget, make_target
from driver.load.accounting import InFlight, RequestAccounting, _Flight, _WatchedFlight
from driver.load.bucket import Bucket
from driver.load.sender import OpenLoopSender
from driver.pool import (
    Command,
    Kill,
    Message,
    SetControls,
    Start,
    Stop,
    WorkerConfig,
)
from driver.schedule import Control, Pacer, RateFunction
from metrics.records import OTHER, TIMEOUT

if TYPE_CHECKING:
    from driver.load.stream_request import LlmRequests

__all__ = ["InFlight", "Worker", "WorkerRequest"]

# After the schedule ends, requests in flight get this long (at most) before being cancelled.
DRAIN_GRACE_S = 10.0
USER_AGENT = f"loadwatch/{driver.__version__}"
# Requests past their timeout are cancelled by a sweep this often.
TIMEOUT_SWEEP_S = 0.1


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


class Worker(OpenLoopSender, RequestAccounting):
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
        self._only = ((0, self.scenarios[0][0])
                      if len(self._choices) == 1 and len(self.scenarios[self._choices[0]]) == 1
                      and self._choices[0] == 0 else None)
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
            from driver.load.stream_request import LlmRequests

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
        if self._only is not None:  # one scenario of one request: the common case
            return self._only
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
                from driver.load.concurrency import send_closed_loop

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



    async def _ticker(self) -> None:
        """Close a bucket at every elapsed second and send it as a tick."""
        while True:
            delay = self.t0 + self.bucket.second + 1 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # a send or completion may have closed the bucket meanwhile
            self._emit_tick()



    async def _drain(self) -> None:
        if not self.in_flight:
            return
        self._all_done = asyncio.get_running_loop().create_future()
        # Streamed answers last seconds to minutes: they get their whole timeout to finish.
        grace = self.config.timeout if self.llm else min(self.config.timeout, DRAIN_GRACE_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._all_done), grace)
        self._end_all("cancelled by kill or end of run")

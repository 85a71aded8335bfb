"""A load worker: one process, one uvloop event loop, and the parts it is made of.

A ``Worker`` has:

- a ``RequestPicker`` (``driver.load.scenarios``): which request goes next;
- a ``RequestCounter`` (``driver.load.accounting``): the requests in flight, and what they did
  counted into seconds (``driver.load.bucket``), ticks and error events;
- a ``RequestPath`` (``driver.load.request_path``): ``PlainRequests``, the lean HTTP/1.1 client
  (``driver.load.plain_request``), or for a streaming LLM target ``LlmRequests``
  (``driver.load.stream_request``, its figures in an ``LlmCounter``, ``driver.load.llm_counts``);
- a sender: the open loop (``driver.load.sender``) or, in concurrency mode, the closed loop
  (``driver.load.concurrency``).

It owns the commands, the run (which hands its parts the clock origin and the client), the
timeout sweep and the drain. The process around a worker (stdin/stdout, signals) is
``driver.load.process``.

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
import time
from collections.abc import Callable

from driver.http import Client, HttpError, make_target
from driver.load.accounting import InFlight, RequestCounter
from driver.load.concurrency import ClosedLoop
from driver.load.llm_counts import LlmCounter
from driver.load.plain_request import PlainRequests
from driver.load.request_path import RequestPath
from driver.load.scenarios import RequestPicker, WorkerRequest
from driver.load.self_load import SelfLoad
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
from metrics.records import TIMEOUT, Tick

__all__ = ["InFlight", "Worker", "WorkerRequest"]

# After the schedule ends, requests in flight get this long (at most) before being cancelled.
DRAIN_GRACE_S = 10.0
# Requests past their timeout are cancelled by a sweep this often.
TIMEOUT_SWEEP_S = 0.1


class Worker:
    def __init__(self, config: WorkerConfig, emit: Callable[[Message], None]) -> None:
        self.config = config
        self.base_rate = RateFunction.from_phases(config.phases)
        self.pacer = Pacer(self.base_rate, config.index, config.workers, config.load.arrivals,
                           seed=config.seed + config.index)
        scenarios = [[WorkerRequest(r.method, r.url, r.headers, r.body) for r in requests]
                     for requests in config.scenarios]
        self.picker = RequestPicker(scenarios, config.weights, config.payload_order,
                                    seed=config.seed * 7919 + config.index)
        late_s = config.load.late_ms / 1000.0
        target = make_target(config.target)
        llm = config.target.get("llm")  # a streaming LLM target's options
        self.streaming = bool(llm)
        llm_counter = LlmCounter(llm.get("slo_ttft"), llm.get("slo_tpot")) if llm else None
        self.self_load = SelfLoad(config.index)  # its own CPU and loop lag, in every tick
        self.counter = RequestCounter(emit, config.index, self.base_rate,
                                      [phase.name for phase in config.phases], self.pacer,
                                      late_s, self._filler(llm_counter))
        # request sequence number -> the request, sent or waiting for a connection
        self.in_flight = self.counter.in_flight
        self.requests: RequestPath
        if llm_counter is not None:
            from driver.load.stream_request import LlmRequests  # aiohttp: for streams only

            self.requests = LlmRequests(llm, config.index, config.timeout,
                                        config.load.connections, target, self.counter,
                                        llm_counter)
        else:
            self.requests = PlainRequests(target, self.counter)
        self.sender: OpenLoopSender | ClosedLoop
        if config.load.mode == "concurrency":
            self.sender = ClosedLoop(self.pacer, self.base_rate.duration, config.index,
                                     config.workers, config.max_in_flight, self.picker,
                                     self.requests, self.in_flight)
        else:
            self.sender = OpenLoopSender(self.pacer, self.base_rate.duration,
                                         config.max_in_flight, late_s, self.picker,
                                         self.requests.start, self.counter)
        self.t0 = 0.0
        self.epoch0 = 0.0
        self._first_second = 0  # a replacement's: the elapsed second it takes over at
        self.killed = False
        self.started = asyncio.Event()

    def _filler(self, llm_counter: LlmCounter | None) -> Callable[[Tick], None]:
        """What completes each tick: the worker's own load, and a stream's figures."""
        if llm_counter is None:
            return self.self_load.fill

        def fill(tick: Tick) -> None:
            self.self_load.fill(tick)
            llm_counter.fill(tick)

        return fill

    # --- commands ---------------------------------------------------------------------

    def start(self, t0: float, epoch: float, at: float = 0.0) -> None:
        self.t0, self.epoch0 = t0, epoch
        if at > 0:  # a replacement: take the share over from elapsed `at`
            self.pacer.start_at(at)
            self._first_second = int(at)
        self.started.set()

    def set_controls(self, controls: tuple[Control, ...]) -> None:
        self.pacer.rate = self.base_rate.with_controls(list(controls))

    def stop(self) -> None:
        self.sender.stop()

    def kill(self) -> None:
        self.stop()
        self.killed = True
        self._end_all()

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

    # --- the run ------------------------------------------------------------------------

    async def run(self, client: Client) -> str:
        await self.started.wait()
        self.counter.start(self.t0, self.epoch0, self._first_second)
        self.requests.open(client, self.t0, self.epoch0)
        ticker = asyncio.create_task(self.counter.ticker())
        sweeper = asyncio.create_task(self._sweep_timeouts())
        probe = asyncio.create_task(self.self_load.probe())
        try:
            await self.sender.run(self.t0)
            await self._drain()
        finally:
            for task in (ticker, sweeper, probe):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.requests.close()
            self.counter.emit_tick(final=True)
        return "killed" if self.killed else ("stopped" if self.sender.stopping else "completed")

    def _end_all(self) -> None:
        """Kill or the end of the drain: requests still waiting are not sent, sent ones are
        cancelled (or, streams on a kill, interrupted)."""
        self.requests.end_all(self.killed)
        self.counter.check_drained()

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

    async def _drain(self) -> None:
        if not self.in_flight:
            return
        drained = self.counter.drained()
        # Streamed answers last seconds to minutes: they get their whole timeout to finish.
        grace = self.config.timeout if self.streaming else min(self.config.timeout,
                                                                DRAIN_GRACE_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(drained), grace)
        self._end_all()

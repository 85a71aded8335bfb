"""A load worker: one process, one uvloop event loop, one aiohttp ClientSession.

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
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.payload import BytesPayload

import driver
from driver.protocol import (
    Command,
    Done,
    EventMessage,
    Kill,
    Message,
    ProtocolError,
    Ready,
    SetControls,
    Start,
    Stop,
    TickMessage,
    WorkerConfig,
    decode_command,
    decode_config,
    encode_message,
)
from driver.schedule import Control, Pacer, RateFunction
from driver.targets import HttpTarget, make_target
from metrics import hdr
from metrics.records import CONN_ERROR, OK, OTHER, TIMEOUT, Event, Tick

if TYPE_CHECKING:
    from driver.stream_request import LlmRequests

# A sleep shorter than this returns at once under uvloop (timers have 1 ms resolution), so the
# sender yields to the loop instead; longer waits sleep and may overshoot by up to ~0.5 ms.
SPIN_BELOW_S = 0.0005
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
    payload: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # aiohttp reuses a BytesPayload safely (bytes are immutable); building one per
        # request was measurable on the hot path.
        self.payload = None if self.body is None else BytesPayload(self.body)
        # Say who we are, and spare aiohttp adding its own User-Agent to every request.
        if not any(name.lower() == "user-agent" for name in self.headers):
            self.headers = {**self.headers, "User-Agent": USER_AGENT}


class _Bucket:
    """What happened in one elapsed second. Plain attributes: the hot path increments them."""

    __slots__ = (
        "completed",
        "errors",
        "lag",
        "late",
        "latency",
        "not_sent",
        "out_of_range",
        "outcomes",
        "second",
        "sent",
        "service",
        "status",
    )

    def __init__(self, second: int) -> None:
        self.second = second
        self.sent = 0
        self.completed = 0
        self.late = 0
        self.not_sent = 0
        self.out_of_range = 0
        self.outcomes: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.latency = hdr.new_histogram()
        self.service = hdr.new_histogram()
        self.lag = hdr.new_histogram()


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
        # request sequence number -> (task, perf_counter when it was sent or None before)
        self.in_flight: dict[int, list[Any]] = {}
        self._timed_out: set[int] = set()
        self.bucket = _Bucket(0)
        self.stopping = False
        self.killed = False
        self.started = asyncio.Event()
        self._last_error_event: dict[str, float] = {}
        self._error_counts_since: dict[str, int] = {}
        self._late_s = config.load.late_ms / 1000.0
        self._connections = asyncio.Semaphore(config.load.connections)
        self.collect_garbage = False  # set when the automatic collector is off
        # The request path, chosen once: a streaming LLM target reads its answers as they
        # arrive (driver.stream_request); every other target goes through _request.
        self.llm: LlmRequests | None = None
        if config.target.get("llm"):
            from driver.stream_request import LlmRequests

            self.llm = LlmRequests(self, config.target["llm"])
            self._request = self.llm.request  # type: ignore[method-assign]

    # --- commands ---------------------------------------------------------------------

    def start(self, t0: float, epoch: float) -> None:
        self.t0, self.epoch0 = t0, epoch
        self.started.set()

    def set_controls(self, controls: tuple[Control, ...]) -> None:
        self.pacer.rate = self.base_rate.with_controls(list(controls))

    def stop(self) -> None:
        self.stopping = True

    def kill(self) -> None:
        self.stopping = True
        self.killed = True
        for task, _sent in list(self.in_flight.values()):
            task.cancel()

    def command(self, command: Command) -> None:
        """Apply one command from the controller."""
        match command:
            case Start(t0=t0, epoch=epoch):
                self.start(t0, epoch)
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

    async def run(self, session: aiohttp.ClientSession) -> str:
        await self.started.wait()
        ticker = asyncio.create_task(self._ticker())
        sweeper = asyncio.create_task(self._sweep_timeouts())
        try:
            if self.config.load.mode == "concurrency":
                from driver.concurrency import send_closed_loop

                await send_closed_loop(self, session)
            else:
                await self._send(session)
            await self._drain()
        finally:
            for task in (ticker, sweeper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._emit_tick(final=True)
        return "killed" if self.killed else ("stopped" if self.stopping else "completed")

    async def _send(self, session: aiohttp.ClientSession) -> None:
        pacer = self.pacer
        perf = time.perf_counter
        loop = asyncio.get_running_loop()
        t0 = self.t0
        duration = self.base_rate.duration
        cap = self.config.max_in_flight
        in_flight = self.in_flight
        request = self._request
        n = 0
        while not self.stopping:
            intended = pacer.peek()
            now = perf() - t0
            if intended is None:
                if now >= duration:
                    return
                await asyncio.sleep(min(MAX_SLEEP_S, duration - now))
                continue
            wait = intended - now
            if wait > 0:
                if wait < SPIN_BELOW_S:
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(min(wait, MAX_SLEEP_S))
                continue
            pacer.take()
            bucket = self.bucket
            if len(in_flight) >= cap:
                bucket.not_sent += 1
                continue
            request_id, spec = self._pick(n)
            n += 1
            in_flight[n] = [loop.create_task(request(session, n, request_id, spec, intended + t0)),
                            None]

    async def _request(self, session: aiohttp.ClientSession, seq: int, request_id: int,
                       spec: WorkerRequest, intended: float) -> None:
        perf = time.perf_counter
        prepared = self.target.prepare(request_id, spec.method, spec.url, spec.headers,
                                       spec.body, self.epoch0 + (intended - self.t0))
        # The same body bytes go out as one reusable aiohttp payload (no per-request wrapper).
        data = spec.payload if prepared.body is spec.body else prepared.body
        connections = self._connections
        status = 0
        try:
            # The request is sent when it has a connection: waiting for one is send lag (as a
            # client with a bounded pool lives it), not service time.
            await connections.acquire()
        except asyncio.CancelledError:
            del self.in_flight[seq]
            self.bucket.not_sent += 1  # killed (or the run ended) before it had a connection
            raise
        actual = perf()
        self.in_flight[seq][1] = actual
        bucket = self.bucket
        bucket.sent += 1
        lag = actual - intended
        bucket.lag.record_value(int(lag * 1e6))
        if lag > self._late_s:
            bucket.late += 1
        try:
            # Awaited rather than `async with`: the context manager's enter and exit were a
            # measurable share of the hot path; read() returns the connection to the pool.
            response = await session.request(prepared.method, prepared.url,
                                              headers=prepared.headers, data=data,
                                              allow_redirects=False)
            try:
                body = await response.read()
            finally:
                response.release()
            status = response.status
            outcome = self.target.classify(status, response.headers, body)
            kind, code, message = outcome.kind, outcome.code, outcome.message
        except asyncio.CancelledError:
            if seq in self._timed_out:
                kind, code = TIMEOUT, "Timeout"
                message = f"no response within {self.config.timeout:g} s"
            else:
                kind, code, message = OTHER, "Cancelled", "cancelled by kill or end of run"
                self._complete(kind, status, code, message, intended, actual, perf())
                raise
        except TimeoutError:
            kind, code = TIMEOUT, "Timeout"
            message = f"no response within {self.config.timeout:g} s"
        except (aiohttp.ClientConnectionError, OSError) as exc:
            kind, code, message = CONN_ERROR, type(exc).__name__, str(exc)[:300]
        except aiohttp.ClientError as exc:
            kind, code, message = OTHER, type(exc).__name__, str(exc)[:300]
        finally:
            connections.release()
            self.in_flight.pop(seq, None)
            self._timed_out.discard(seq)
        self._complete(kind, status, code, message, intended, actual, perf())

    async def _sweep_timeouts(self) -> None:
        """Cancel requests past the timeout, a few times a second.

        One sweep instead of a timer per request: per-request timers were a measurable share
        of the worker's CPU at thousands of requests per second. Timeouts are therefore
        precise to about ``TIMEOUT_SWEEP_S`` and count from the actual send.
        """
        timeout = self.config.timeout
        while True:
            await asyncio.sleep(TIMEOUT_SWEEP_S)
            deadline = time.perf_counter() - timeout
            for seq, (task, sent) in list(self.in_flight.items()):
                if sent is not None and sent < deadline and seq not in self._timed_out:
                    self._timed_out.add(seq)
                    task.cancel()

    def _complete(self, kind: str, status: int, code: str | None, message: str | None,
                  intended: float, actual: float, end: float) -> None:
        bucket = self.bucket
        bucket.completed += 1
        outcomes = bucket.outcomes
        outcomes[kind] = outcomes.get(kind, 0) + 1
        if status:
            key = str(status)
            bucket.status[key] = bucket.status.get(key, 0) + 1
        if kind == OK:
            pass
        elif code:
            bucket.errors[code] = bucket.errors.get(code, 0) + 1
            self._note_error(kind, code, message or "", status, end)
        if not bucket.latency.record_value(int((end - intended) * 1e6)):
            bucket.out_of_range += 1
        bucket.service.record_value(int((end - actual) * 1e6))

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
            next_boundary = self.t0 + self.bucket.second + 1
            delay = next_boundary - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self._emit_tick()

    def _collect_garbage(self, second: int) -> None:
        """With the automatic collector off: young generations each second, all each minute.

        Requests are freed by reference counting (measured: no cycles per request); what
        needs the collector is a few objects a second (the histograms' ctypes arrays), so
        the cost lands in one known spot per second rather than mid-send.
        """
        gc.collect(2 if second % 60 == 59 else 1)

    def _emit_tick(self, final: bool = False) -> None:
        bucket = self.bucket
        if final and bucket.sent == 0 and bucket.completed == 0 and bucket.not_sent == 0:
            return
        self.bucket = _Bucket(bucket.second + 1)
        start = float(bucket.second)
        tick = Tick(
            second=bucket.second,
            t=self.epoch0 + start,
            elapsed=start,
            phase=None,
            phase_index=self.base_rate.phase_index_at(start),
            target_rps=self.pacer.due_between(start, start + 1),
            sent=bucket.sent,
            completed=bucket.completed,
            outcomes=bucket.outcomes,
            status=bucket.status,
            errors=bucket.errors,
            late=bucket.late,
            not_sent=bucket.not_sent,
            in_flight=len(self.in_flight),
            out_of_range=bucket.out_of_range,
            in_schedule=start < self.base_rate.duration,
            latency=hdr.encode(bucket.latency),
            service=hdr.encode(bucket.service),
            lag=hdr.encode(bucket.lag),
        )
        if tick.phase_index < len(self.config.phases):
            tick.phase = self.config.phases[tick.phase_index].name
        if self.llm is not None:
            self.llm.fill(tick)
        self.emit(TickMessage(self.config.index, tick))
        for histogram in (bucket.latency, bucket.service, bucket.lag):
            hdr.release(histogram)  # requests record only into the current bucket
        if self.collect_garbage:
            self._collect_garbage(bucket.second)

    async def _drain(self) -> None:
        tasks = {task for task, _sent in self.in_flight.values()}
        if not tasks:
            return
        if self.killed:
            await asyncio.gather(*tasks, return_exceptions=True)
            return
        # Streamed answers last seconds to minutes: they get their whole timeout to finish.
        grace = self.config.timeout if self.llm else min(self.config.timeout, DRAIN_GRACE_S)
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def _read_commands(worker: Worker, reader: asyncio.StreamReader) -> None:
    while True:
        line = await reader.readline()
        if not line:  # the controller is gone
            worker.kill()
            worker.started.set()
            return
        try:
            command = decode_command(line)
        except ProtocolError as exc:  # a controller that speaks another version: stop safely
            print(f"loadwatch worker: {exc}", file=sys.stderr)
            worker.kill()
            worker.started.set()
            return
        worker.command(command)


async def serve(reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
    """Run one worker over a command stream; ``write`` takes one encoded output line."""

    def emit(message: Message) -> None:
        write(encode_message(message))

    first = await reader.readline()
    if not first:
        return
    config = decode_config(first)
    worker = Worker(config, emit)
    connections = config.load.connections
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections,
                                     ttl_dns_cache=300, enable_cleanup_closed=True)
    # No aiohttp timeouts: Worker._sweep_timeouts enforces config.timeout without a timer
    # per request.
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     auto_decompress=False,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        commands = asyncio.create_task(_read_commands(worker, reader))
        if config.gc_freeze and os.environ.get("LOADWATCH_GC_TUNING") != "0":
            # Collector pauses at random moments were the source of send lag at high rates.
            # Move everything allocated so far out of the collector's way, and collect at
            # a moment we choose: right after each tick (see Worker._collect_garbage).
            gc.collect()
            gc.freeze()
            gc.disable()
            worker.collect_garbage = True
        emit(Ready(config.index, os.getpid()))
        reason = await worker.run(session)
        commands.cancel()
    emit(Done(config.index, reason))


async def _main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    await serve(reader, write)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker if the controller dies without closing our stdin."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main() -> None:
    # Ctrl-C belongs to the controller, which stops workers in order and keeps the recording.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:
        asyncio.run(_main())


if __name__ == "__main__":
    main()

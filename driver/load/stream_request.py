"""The worker's request path for a streaming LLM target (issue 14; docs/streaming.md).

Selected once at worker start when the target spec carries ``llm`` options: the worker's
``start_request`` hook is ``LlmRequests.start`` (open loop and concurrency mode alike), so the
plain path (the lean client of ``driver.http.client``) stays as it is. Self-contained: its own
aiohttp ``ClientSession`` (opened in the worker's loop, closed at the end), its own connection
limit (``load.connections``; waiting for one is send lag), one task per request. Each request
sits in ``Worker.in_flight`` as a ``Stream``, which offers what the worker asks of any request
there (``seq``, ``intended``, ``sent``, ``abort``), so the in-flight cap, the timeout sweep,
kill and the drain treat both paths alike, and the accounting goes through the worker's own
``_sent``/``_complete``.

Per request it takes the next prompt, builds the body (``driver.profile.prompts.request_body``),
lets the target prepare it (the SageMaker target signs it for ``invocations-response-stream``), and
reads the answer as it arrives with a ``driver.http.streams.StreamReader`` fed every
``iter_any()`` piece.

Timeouts: until the first token the deadline is the TTFT timeout, then the total timeout (one
``asyncio.timeout`` per request, rescheduled once). Both count from the actual send, like the
worker's own timeout sweep, which still applies (``Stream.abort``). A non-200 answer goes
through the target's ``classify`` (AWS error codes, e.g. ``ValidationError`` for an endpoint
that cannot stream).

An interrupt (Ctrl-C, a stop signal, the monitor's kill key) is the operator's choice, not the
endpoint's failure: the worker's ``Kill`` aborts every open stream, and those are counted apart
as ``interrupted`` (the tokens they received still count) rather than as ``Cancelled`` errors,
so they stay out of the error rate and of goodput's denominator. Streams still open when the
drain's grace ends (no kill) remain ``Cancelled`` errors.

What a stream gives goes into ``LlmCounts``, one per elapsed second alongside the worker's
bucket, and into the tick's LLM fields when the worker closes the second (``fill``).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from driver.http import (
    CRC_ERROR,
    INTERNAL_STREAM_FAILURE,
    MALFORMED_FRAME,
    MALFORMED_PAYLOAD,
    MODEL_STREAM_ERROR,
    STREAM_CUT,
    StreamReader,
    StreamResult,
)
from driver.profile import (
    LengthDistribution,
    Prompt,
    PromptSource,
    SyntheticPrompts,
    load_prompts,
    request_body,
)
from metrics import hdr
from metrics.records import CONN_ERROR, OK, OTHER, TIMEOUT, Tick

if TYPE_CHECKING:
    from driver.http import HttpError
    from driver.load.worker import Worker, WorkerRequest

TTFT_TIMEOUT = "ttft_timeout"
TOTAL_TIMEOUT = "timeout"
# A stream's outcome as the worker's outcome class and error code (errors and events show it).
OUTCOME_CODES = {
    STREAM_CUT: (CONN_ERROR, "StreamCut"),
    MALFORMED_FRAME: (OTHER, "MalformedFrame"),
    CRC_ERROR: (OTHER, "CrcError"),
    MALFORMED_PAYLOAD: (OTHER, "MalformedPayload"),
    MODEL_STREAM_ERROR: (OTHER, "ModelStreamError"),
    INTERNAL_STREAM_FAILURE: (OTHER, "InternalStreamFailure"),
    TTFT_TIMEOUT: (TIMEOUT, "TtftTimeout"),
    TOTAL_TIMEOUT: (TIMEOUT, "Timeout"),
}


def length(spec: dict[str, Any]) -> LengthDistribution:
    """A profile's length spec (``LlmOptions.input_tokens``) as a distribution."""
    kind = spec["kind"]
    if kind == "fixed":
        return LengthDistribution.fixed(int(spec["value"]))
    if kind == "uniform":
        return LengthDistribution.uniform(int(spec["low"]), int(spec["high"]))
    return LengthDistribution.normal(float(spec["value"]), float(spec["stddev"]),
                                     spec.get("maximum"))


def prompt_source(llm: dict[str, Any], index: int) -> PromptSource | SyntheticPrompts:
    """Where one worker's prompts come from; each worker draws from its own seed."""
    seed = int(llm.get("seed", 0)) * 7919 + index
    if llm.get("prompts"):
        return PromptSource(load_prompts(llm["prompts"]), llm.get("order", "sequence"), seed)
    return SyntheticPrompts(length(llm["input_tokens"]), length(llm["output_tokens"]), seed,
                            chat=llm.get("api") == "chat")


class LlmCounts:
    """One elapsed second of streams: the tick's LLM fields before encoding."""

    __slots__ = ("goodput", "input_tokens", "interrupted", "itl", "output_tokens",
                 "output_tokens_estimated", "stream_errors", "tpot", "ttft", "ttft_sent")

    def __init__(self) -> None:
        self.ttft = hdr.new_histogram()
        self.ttft_sent = hdr.new_histogram()
        self.itl = hdr.new_histogram()
        self.tpot = hdr.new_histogram()
        self.output_tokens = 0
        self.input_tokens = 0
        self.output_tokens_estimated = 0
        self.goodput = 0
        self.interrupted = 0
        self.stream_errors: dict[str, int] = {}

    def histograms(self) -> tuple[hdr.Histogram, ...]:
        return (self.ttft, self.ttft_sent, self.itl, self.tpot)


class Stream:
    """One streamed request in ``Worker.in_flight`` (``driver.load.worker.InFlight``)."""

    __slots__ = ("ended", "intended", "owner", "prompt", "reader", "sent", "seq", "status",
                 "task")

    def __init__(self, owner: LlmRequests, seq: int, intended: float) -> None:
        self.owner, self.seq, self.intended = owner, seq, intended
        self.sent = 0.0  # when it had a connection
        self.status = 0
        self.prompt: Prompt | None = None
        self.reader: StreamReader | None = None
        self.task: asyncio.Task[None] | None = None
        self.ended = False  # counted: nothing more is recorded for it

    def abort(self, error: HttpError) -> None:
        self.owner.abort(self, error)


class LlmRequests:
    """One worker's streaming requests: prompts, the session, the per-second counts."""

    def __init__(self, worker: Worker, llm: dict[str, Any]) -> None:
        self.worker = worker
        self.transport = llm["transport"]
        self.shape = llm["shape"]
        self.api = llm["api"]
        self.model = llm.get("model")
        self.max_tokens = int(llm.get("max_tokens") or 128)
        self.source = prompt_source(llm, worker.config.index)
        self.slo_ttft = llm.get("slo_ttft") or math.inf
        self.slo_tpot = llm.get("slo_tpot") or math.inf
        timeout = worker.config.timeout
        self.timeout = timeout
        self.ttft_timeout = min(llm.get("ttft_timeout") or timeout, timeout)
        self.counts = LlmCounts()
        self.session: aiohttp.ClientSession | None = None
        self._connections: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the worker's side -----------------------------------------------------------------

    def open(self) -> None:
        """Make the session and the connection limit, in the worker's running loop."""
        limit = self.worker.config.load.connections
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
        # No aiohttp timeouts: TTFT and total timeouts are per request (asyncio.timeout).
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        self._connections = asyncio.Semaphore(limit)

    async def close(self) -> None:
        """After the drain (every request counted): let cancelled tasks finish, close."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None

    def start(self, seq: int, request_id: int, spec: WorkerRequest, intended: float) -> None:
        """Start one streamed request (the worker's ``start_request`` hook)."""
        stream = Stream(self, seq, intended)
        self.worker.in_flight[seq] = stream
        task = asyncio.get_running_loop().create_task(self._request(stream, request_id, spec))
        stream.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def abort(self, stream: Stream, error: HttpError) -> None:
        """The worker ends a request now (timeout sweep, kill, end of the drain): counted at
        once, as the lean client's abort does; its task is cancelled and only cleans up."""
        if stream.ended:
            return
        if not stream.sent:
            stream.ended = True
            self.worker._unsent(stream)  # still waiting for a connection
        elif self.worker.killed:
            self._interrupt(stream)
        elif error.kind == TIMEOUT:
            reader = stream.reader
            first = reader is not None and reader.first_token_at is not None
            self._settle(stream, TIMEOUT, error.code, error.message, self._failed(
                reader, TOTAL_TIMEOUT if first else TTFT_TIMEOUT,
                f"no {'end' if first else 'first token'} within {self.timeout:g} s",
                stream.intended, stream.sent))
        else:
            self._settle(stream, error.kind, error.code, error.message, None)
        if stream.task is not None:
            stream.task.cancel()

    # --- one request -----------------------------------------------------------------------

    def _itl(self, microseconds: int, count: int) -> None:
        self.counts.itl.record_value(microseconds, count)

    def _body(self) -> tuple[Prompt, bytes]:
        prompt = self.source.next()
        return prompt, request_body(prompt, self.api, default_max_tokens=self.max_tokens,
                                    model=self.model)

    async def _request(self, stream: Stream, request_id: int, spec: WorkerRequest) -> None:
        """One streamed request, from the connection wait to the worker's counts (the lean
        client's twin: same send accounting, same timeout sweep, same ``_complete``)."""
        worker = self.worker
        perf = time.perf_counter
        intended = stream.intended
        prompt, body = self._body()
        stream.prompt = prompt
        prepared = worker.target.prepare(request_id, spec.method, spec.url, spec.headers, body,
                                         worker.epoch0 + (intended - worker.t0))
        # A plain HTTP target keeps the first Prepared per request id (its body included); a
        # SageMaker target signs this body. Either way, this request's body goes out.
        data = body if prepared.body is not body and worker.target.kind == "http" else \
            prepared.body
        connections, session = self._connections, self.session
        assert connections is not None and session is not None
        try:
            await connections.acquire()
        except asyncio.CancelledError:  # an abort counted it not sent, unless something else
            if not stream.ended:
                stream.ended = True
                worker._unsent(stream)
            raise
        try:
            if stream.ended:
                return
            stream.sent = actual = perf()
            worker._sent(stream)
            kind, code, message, result = await self._exchange(session, stream, prepared,
                                                               data, actual)
        except asyncio.CancelledError:
            # An abort counted it already; anything else cancelling us (the loop going away)
            # must not lose it.
            self._settle(stream, OTHER, "Cancelled", "cancelled by kill or end of run", None)
            raise
        finally:
            connections.release()
        self._settle(stream, kind, code, message, result)

    async def _exchange(self, session: aiohttp.ClientSession, stream: Stream, prepared: Any,
                        data: bytes | None, actual: float
                        ) -> tuple[str, str | None, str, StreamResult | None]:
        """Send and read the answer: (outcome class, error code, message, stream result)."""
        worker = self.worker
        perf = time.perf_counter
        intended = stream.intended
        kind, code, message = OK, None, ""
        result: StreamResult | None = None
        try:
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self.ttft_timeout) as deadline:
                response = await session.request(prepared.method, prepared.url,
                                                  headers=prepared.headers,
                                                  data=data, allow_redirects=False)
                status = stream.status = response.status
                try:
                    if status != 200:
                        answer = await response.read()
                        outcome = worker.target.classify(status, response.headers, answer)
                        kind, code, message = outcome.kind, outcome.code, outcome.message or ""
                        if kind == OK:  # a 2xx that is not 200: no stream to read
                            kind, code = OTHER, f"HTTP {status}"
                    else:
                        reader = stream.reader = StreamReader(
                            self.transport, self.shape, intended, actual, on_itl=self._itl)
                        waiting = True
                        async for piece in response.content.iter_any():
                            if not reader.feed(piece, perf()):
                                break
                            if waiting and reader.first_token_at is not None:
                                waiting = False
                                deadline.reschedule(loop.time() + self.timeout
                                                    - (perf() - actual))
                        result = reader.end(perf())
                finally:
                    if result is not None and result.outcome == OK:
                        response.release()
                    else:
                        response.close()
        except TimeoutError:
            reader = stream.reader
            first = reader is not None and reader.first_token_at is not None
            outcome_name = TOTAL_TIMEOUT if first else TTFT_TIMEOUT
            limit = self.timeout if first else self.ttft_timeout
            result = self._failed(reader, outcome_name, f"no {'end' if first else 'first token'}"
                                  f" within {limit:g} s", intended, actual)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as exc:
            if stream.reader is not None:
                result = stream.reader.fail(perf(), STREAM_CUT, str(exc)[:300])
            else:
                kind, code, message = CONN_ERROR, type(exc).__name__, str(exc)[:300]
        except aiohttp.ClientError as exc:
            kind, code, message = OTHER, type(exc).__name__, str(exc)[:300]
        return kind, code, message, result

    def _interrupt(self, stream: Stream) -> None:
        """The operator stopped the run with this stream open: counted apart, not an error.

        It leaves the worker's in-flight set without a completion (the kill that called this
        checks for the drain's end); what it received still counts as tokens."""
        stream.ended = True
        self.worker.in_flight.pop(stream.seq, None)
        self.counts.interrupted += 1
        if stream.reader is not None and stream.prompt is not None:
            self._tokens(stream.reader.fail(time.perf_counter(), STREAM_CUT, "interrupted"),
                         stream.prompt)

    def _settle(self, stream: Stream, kind: str, code: str | None, message: str | None,
                result: StreamResult | None) -> None:
        """Count the request once: its stream's figures, then the worker's."""
        if stream.ended:
            return
        stream.ended = True
        if result is not None:
            assert stream.prompt is not None
            self._record(result, stream.prompt)
            if result.outcome != OK:
                kind, code = OUTCOME_CODES.get(result.outcome, (OTHER, result.outcome))
                message = result.message
        self.worker._ended(stream, kind, stream.status, code, message, time.perf_counter())

    def _failed(self, reader: StreamReader | None, outcome: str, message: str,
                intended: float, actual: float) -> StreamResult:
        now = time.perf_counter()
        if reader is not None:
            return reader.fail(now, outcome, message)
        return StreamResult(outcome, 0, True, None, None, None, now - intended, now - actual,
                            None, 0, message)

    def _tokens(self, result: StreamResult, prompt: Prompt) -> None:
        counts = self.counts
        counts.output_tokens += result.output_tokens
        if result.tokens_estimated:
            counts.output_tokens_estimated += result.output_tokens
        counts.input_tokens += (result.input_tokens if result.input_tokens is not None
                                else prompt.input_words)

    def _record(self, result: StreamResult, prompt: Prompt) -> None:
        self._tokens(result, prompt)
        counts = self.counts
        if result.outcome != OK:
            errors = counts.stream_errors
            errors[result.outcome] = errors.get(result.outcome, 0) + 1
            return
        if result.ttft_s is not None:
            counts.ttft.record_value(int(result.ttft_s * 1e6))
            counts.ttft_sent.record_value(int((result.ttft_sent_s or 0.0) * 1e6))
            tpot = result.tpot_s
            if tpot is not None:
                counts.tpot.record_value(int(tpot * 1e6))
            if result.ttft_s <= self.slo_ttft and (tpot or 0.0) <= self.slo_tpot:
                counts.goodput += 1

    def fill(self, tick: Tick) -> None:
        """Close the second: its counts into ``tick``, and a fresh set for the next."""
        counts, self.counts = self.counts, LlmCounts()
        tick.ttft = hdr.encode(counts.ttft)
        tick.ttft_sent = hdr.encode(counts.ttft_sent)
        tick.itl = hdr.encode(counts.itl)
        tick.tpot = hdr.encode(counts.tpot)
        tick.output_tokens = counts.output_tokens
        tick.input_tokens = counts.input_tokens
        tick.output_tokens_estimated = counts.output_tokens_estimated
        tick.goodput = counts.goodput
        tick.interrupted = counts.interrupted
        tick.stream_errors = counts.stream_errors
        for histogram in counts.histograms():
            hdr.release(histogram)

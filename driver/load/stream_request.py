"""The worker's request path for a streaming LLM target (issue 14; docs/streaming.md).

Chosen once, when the worker is made, if the target spec carries ``llm`` options: then
``LlmRequests`` is the worker's ``RequestPath`` (``driver.load.request_path``), in open loop and
concurrency mode alike, instead of the plain path (``driver.load.plain_request``, the lean
client of ``driver.http.client``). Self-contained: its own aiohttp ``ClientSession`` (opened in
the worker's loop, closed at the end), its own connection limit (``load.connections``; waiting
for one is send lag), one task per request. Each request sits in the counter's in-flight map
as a ``Stream``, which offers what the worker asks of any request there (``InFlight``: ``seq``,
``intended``, ``sent``, ``abort``), so the in-flight cap, the timeout sweep, kill and the drain
treat both paths alike, and it is counted through the same ``RequestCounter`` (``sent``,
``ended``, ``unsent``) as a plain request.

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

What a stream gives (tokens, TTFT, ITL, TPOT, goodput) goes into the worker's ``LlmCounter``
(``driver.load.llm_counts``), which the counter closes into each tick's LLM fields.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from driver.http import (
    CRC_ERROR,
    INTERNAL_STREAM_FAILURE,
    MALFORMED_FRAME,
    MALFORMED_PAYLOAD,
    MODEL_STREAM_ERROR,
    MODEL_TIMEOUT,
    STREAM_CUT,
    Client,
    HttpError,
    HttpTarget,
    StreamReader,
    StreamResult,
)
from driver.load.accounting import RequestCounter
from driver.load.llm_counts import LlmCounter
from driver.load.request_path import CANCELLED
from driver.load.scenarios import WorkerRequest
from driver.profile import (
    LengthDistribution,
    Prompt,
    PromptSource,
    SyntheticPrompts,
    load_prompts,
    request_body,
)
from metrics.records import CONN_ERROR, OK, OTHER, TIMEOUT

TTFT_TIMEOUT = "ttft_timeout"
TOTAL_TIMEOUT = "timeout"
# A stream's outcome as the worker's outcome class and error code (errors and events show it).
OUTCOME_CODES = {
    STREAM_CUT: (CONN_ERROR, "StreamCut"),
    MALFORMED_FRAME: (OTHER, "MalformedFrame"),
    CRC_ERROR: (OTHER, "CrcError"),
    MALFORMED_PAYLOAD: (OTHER, "MalformedPayload"),
    MODEL_STREAM_ERROR: (OTHER, "ModelStreamError"),
    MODEL_TIMEOUT: (TIMEOUT, "ModelInvocationTimeExceeded"),
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


class TimedResponseHandler(ResponseHandler):
    """aiohttp's connection protocol, noting when the socket first delivered bytes the stream
    has not read yet (``unread_since``, perf_counter): a token is timed at the socket read that
    brought it, not when its task next ran after the loop's other callbacks (issue 25)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.unread_since: float | None = None

    def data_received(self, data: bytes) -> None:
        if self.unread_since is None:
            self.unread_since = time.perf_counter()
        super().data_received(data)


def read_time(response: aiohttp.ClientResponse) -> Callable[[], float]:
    """When the piece ``iter_any`` just gave arrived: the first socket read since the last
    piece (``TimedResponseHandler``), or now if the connection is not timed."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if not isinstance(protocol, TimedResponseHandler):
        return time.perf_counter

    def arrived() -> float:
        now = time.perf_counter()
        at = protocol.unread_since
        protocol.unread_since = None
        return now if at is None or at > now else at

    return arrived


class Stream:
    """One streamed request in the counter's in-flight map (``driver.load.accounting.InFlight``)."""

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
    """One worker's streaming requests (a ``RequestPath``): prompts, the session, a task per
    request; ``llm`` is the target spec's LLM options, ``index`` the worker's (its prompts'
    seed), ``timeout`` and ``connections`` the profile's load options."""

    def __init__(self, llm: dict[str, Any], index: int, timeout: float, connections: int,
                 target: HttpTarget, counter: RequestCounter, llm_counter: LlmCounter) -> None:
        self.transport = llm["transport"]
        self.shape = llm["shape"]
        self.api = llm["api"]
        self.model = llm.get("model")
        self.max_tokens = int(llm.get("max_tokens") or 128)
        self.ignore_eos = bool(llm.get("ignore_eos"))
        self.extra_body = llm.get("extra_body") or None
        self.source = prompt_source(llm, index)
        self.timeout = timeout
        self.ttft_timeout = min(llm.get("ttft_timeout") or timeout, timeout)
        self.connections = connections
        self.target = target
        self.counter = counter
        self.in_flight = counter.in_flight
        self.llm_counter = llm_counter
        self.t0 = 0.0
        self.epoch0 = 0.0
        self.killed = False  # the operator's kill: streams still open are interrupted
        self.session: aiohttp.ClientSession | None = None
        self._on_end: Callable[[], None] | None = None  # see watch_ends
        self._connections: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the worker's side -----------------------------------------------------------------

    def open(self, client: Client, t0: float, epoch0: float) -> None:
        """Make the session and the connection limit, in the worker's running loop (the
        worker's lean client is not used)."""
        self.t0, self.epoch0 = t0, epoch0
        limit = self.connections
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
        if hasattr(connector, "_factory"):  # aiohttp's protocol factory: time socket reads
            connector._factory = functools.partial(TimedResponseHandler,
                                                   loop=asyncio.get_running_loop())
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
        """Start one streamed request (in its own task)."""
        stream = Stream(self, seq, intended)
        self.in_flight[seq] = stream
        task = asyncio.get_running_loop().create_task(self._request(stream, request_id, spec))
        stream.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def watch_ends(self, callback: Callable[[], None]) -> None:
        self._on_end = callback

    def end_all(self, killed: bool) -> None:
        """Streams still waiting for a connection are not sent; open ones are interrupted by
        a kill (not the endpoint's failure) or, at the drain's end, cancelled as errors."""
        self.killed = killed
        error = HttpError(OTHER, "Cancelled", CANCELLED)
        for stream in list(self.in_flight.values()):
            stream.abort(error)

    def abort(self, stream: Stream, error: HttpError) -> None:
        """The worker ends a request now (timeout sweep, kill, end of the drain): counted at
        once, as the lean client's abort does; its task is cancelled and only cleans up."""
        if stream.ended:
            return
        if not stream.sent:
            stream.ended = True
            self.counter.unsent(stream)  # still waiting for a connection
        elif self.killed:
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

    def _body(self) -> tuple[Prompt, bytes]:
        prompt = self.source.next()
        return prompt, request_body(prompt, self.api, default_max_tokens=self.max_tokens,
                                    model=self.model, ignore_eos=self.ignore_eos,
                                    extra=self.extra_body)

    async def _request(self, stream: Stream, request_id: int, spec: WorkerRequest) -> None:
        """One streamed request, from the connection wait to the worker's counts (the lean
        client's twin: same send accounting, same timeout sweep, same ``ended``)."""
        counter = self.counter
        perf = time.perf_counter
        intended = stream.intended
        prompt, body = self._body()
        stream.prompt = prompt
        prepared = self.target.prepare(request_id, spec.method, spec.url, spec.headers, body,
                                       self.epoch0 + (intended - self.t0))
        # A plain HTTP target keeps the first Prepared per request id (its body included); a
        # SageMaker target signs this body. Either way, this request's body goes out.
        data = body if prepared.body is not body and self.target.kind == "http" else \
            prepared.body
        connections, session = self._connections, self.session
        assert connections is not None and session is not None
        try:
            await connections.acquire()
        except asyncio.CancelledError:  # an abort counted it not sent, unless something else
            if not stream.ended:
                stream.ended = True
                counter.unsent(stream)
            raise
        try:
            if stream.ended:
                return
            stream.sent = actual = perf()
            counter.sent(stream)
            kind, code, message, result = await self._exchange(session, stream, prepared,
                                                               data, actual)
        except asyncio.CancelledError:
            # An abort counted it already; anything else cancelling us (the loop going away)
            # must not lose it.
            self._settle(stream, OTHER, "Cancelled", CANCELLED, None)
            raise
        finally:
            connections.release()
        self._settle(stream, kind, code, message, result)

    async def _exchange(self, session: aiohttp.ClientSession, stream: Stream, prepared: Any,
                        data: bytes | None, actual: float
                        ) -> tuple[str, str | None, str, StreamResult | None]:
        """Send and read the answer: (outcome class, error code, message, stream result)."""
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
                        outcome = self.target.classify(status, response.headers, answer)
                        kind, code, message = outcome.kind, outcome.code, outcome.message or ""
                        if kind == OK:  # a 2xx that is not 200: no stream to read
                            kind, code = OTHER, f"HTTP {status}"
                    else:
                        reader = stream.reader = StreamReader(self.transport, self.shape,
                                                              intended, actual,
                                                              on_itl=self.llm_counter.itl)
                        arrived = read_time(response)
                        if not response.content.total_bytes:
                            arrived()  # the reads so far were the headers': not a token's
                        waiting = True
                        async for piece in response.content.iter_any():
                            if not reader.feed(piece, arrived()):
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

        It leaves the in-flight map without a completion (the kill that called this checks
        for the drain's end); what it received still counts as tokens."""
        stream.ended = True
        self.counter.roll(time.perf_counter())
        self.in_flight.pop(stream.seq, None)
        llm_counter = self.llm_counter
        llm_counter.interrupted()
        if stream.reader is not None and stream.prompt is not None:
            llm_counter.tokens(stream.reader.fail(time.perf_counter(), STREAM_CUT, "interrupted"),
                               stream.prompt)

    def _settle(self, stream: Stream, kind: str, code: str | None, message: str | None,
                result: StreamResult | None) -> None:
        """Count the request once: its stream's figures, then the worker's."""
        if stream.ended:
            return
        stream.ended = True
        end = time.perf_counter()
        # Its second first: the stream's tokens and goodput then land in the tick that counts
        # its completion (else a window could show goodput above 100 %).
        self.counter.roll(end)
        if result is not None:
            assert stream.prompt is not None
            self.llm_counter.record(result, stream.prompt)
            if result.outcome != OK:
                kind, code = OUTCOME_CODES.get(result.outcome, (OTHER, result.outcome))
                message = result.message
        self.counter.ended(stream, kind, stream.status, code, message, end, False)
        if self._on_end is not None:
            self._on_end()

    def _failed(self, reader: StreamReader | None, outcome: str, message: str,
                intended: float, actual: float) -> StreamResult:
        now = time.perf_counter()
        if reader is not None:
            return reader.fail(now, outcome, message)
        return StreamResult(outcome, 0, True, None, None, None, now - intended, now - actual,
                            None, 0, message)

"""The worker's request path for a streaming LLM target (issue 14; docs/streaming.md).

Selected once at worker start when the target spec carries ``llm`` options: ``Worker._request``
is replaced by ``LlmRequests.request``, so the plain path stays as it is. Per request it takes
the next prompt, builds the body (``driver.prompts.request_body``), lets the target prepare it
(the SageMaker target signs it for ``invocations-response-stream``), and reads the answer as it
arrives with a ``driver.streaming.StreamReader`` fed every ``iter_any()`` piece.

Timeouts: until the first token the deadline is the TTFT timeout, then the total timeout (one
``asyncio.timeout`` per request, rescheduled once). Both count from the actual send, like the
worker's own timeout sweep, which still applies. A non-200 answer goes through the target's
``classify`` (AWS error codes, e.g. ``ValidationError`` for an endpoint that cannot stream).

What a stream gives goes into ``LlmCounts``, one per elapsed second alongside the worker's
bucket, and into the tick's LLM fields when the worker closes the second (``fill``).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from driver.prompts import (
    LengthDistribution,
    Prompt,
    PromptSource,
    SyntheticPrompts,
    load_prompts,
    request_body,
)
from driver.streaming import (
    CRC_ERROR,
    INTERNAL_STREAM_FAILURE,
    MALFORMED_FRAME,
    MALFORMED_PAYLOAD,
    MODEL_STREAM_ERROR,
    OK,
    STREAM_CUT,
    StreamReader,
    StreamResult,
)
from metrics import hdr
from metrics.records import CONN_ERROR, OTHER, TIMEOUT, Tick

if TYPE_CHECKING:
    from driver.worker import Worker, WorkerRequest

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

    __slots__ = ("goodput", "input_tokens", "itl", "output_tokens", "output_tokens_estimated",
                 "stream_errors", "tpot", "ttft", "ttft_sent")

    def __init__(self) -> None:
        self.ttft = hdr.new_histogram()
        self.ttft_sent = hdr.new_histogram()
        self.itl = hdr.new_histogram()
        self.tpot = hdr.new_histogram()
        self.output_tokens = 0
        self.input_tokens = 0
        self.output_tokens_estimated = 0
        self.goodput = 0
        self.stream_errors: dict[str, int] = {}

    def histograms(self) -> tuple[hdr.Histogram, ...]:
        return (self.ttft, self.ttft_sent, self.itl, self.tpot)


class LlmRequests:
    """One worker's streaming requests: prompts, the request coroutine, the per-second counts."""

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

    def _itl(self, microseconds: int, count: int) -> None:
        self.counts.itl.record_value(microseconds, count)

    def _body(self) -> tuple[Prompt, bytes]:
        prompt = self.source.next()
        return prompt, request_body(prompt, self.api, default_max_tokens=self.max_tokens,
                                    model=self.model)

    async def request(self, session: aiohttp.ClientSession, seq: int, request_id: int,
                      spec: WorkerRequest, intended: float) -> None:
        """One streamed request, from the connection wait to the tick (Worker._request's
        twin: same send accounting, same timeouts sweep, same _complete)."""
        worker = self.worker
        perf = time.perf_counter
        prompt, body = self._body()
        prepared = worker.target.prepare(request_id, spec.method, spec.url, spec.headers, body,
                                         worker.epoch0 + (intended - worker.t0))
        # A plain HTTP target keeps the first Prepared per request id (its body included); a
        # SageMaker target signs this body. Either way, this request's body goes out.
        data = body if prepared.body is not body and worker.target.kind == "http" else \
            prepared.body
        connections = worker._connections
        try:
            await connections.acquire()
        except asyncio.CancelledError:
            del worker.in_flight[seq]
            worker.bucket.not_sent += 1
            raise
        actual = perf()
        worker.in_flight[seq][1] = actual
        bucket = worker.bucket
        bucket.sent += 1
        bucket.lag.record_value(int((actual - intended) * 1e6))
        if actual - intended > worker._late_s:
            bucket.late += 1
        status, kind, code, message = 0, OK, None, ""
        result: StreamResult | None = None
        reader: StreamReader | None = None
        try:
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self.ttft_timeout) as deadline:
                response = await session.request(prepared.method, prepared.url,
                                                  headers=prepared.headers,
                                                  data=data, allow_redirects=False)
                status = response.status
                try:
                    if status != 200:
                        answer = await response.read()
                        outcome = worker.target.classify(status, response.headers, answer)
                        kind, code, message = outcome.kind, outcome.code, outcome.message
                        if kind == OK:  # a 2xx that is not 200: no stream to read
                            kind, code = OTHER, f"HTTP {status}"
                    else:
                        reader = StreamReader(self.transport, self.shape, intended, actual,
                                              on_itl=self._itl)
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
            first = reader is not None and reader.first_token_at is not None
            outcome_name = TOTAL_TIMEOUT if first else TTFT_TIMEOUT
            limit = self.timeout if first else self.ttft_timeout
            result = self._failed(reader, outcome_name, f"no {'end' if first else 'first token'}"
                                  f" within {limit:g} s", intended, actual)
        except asyncio.CancelledError:
            if seq in worker._timed_out:
                result = self._failed(reader, TOTAL_TIMEOUT,
                                      f"no end within {self.timeout:g} s", intended, actual)
            else:
                self._done(seq)
                worker._complete(OTHER, status, "Cancelled", "cancelled by kill or end of run",
                                 intended, actual, perf())
                raise
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as exc:
            if reader is not None:
                result = reader.fail(perf(), STREAM_CUT, str(exc)[:300])
            else:
                kind, code, message = CONN_ERROR, type(exc).__name__, str(exc)[:300]
        except aiohttp.ClientError as exc:
            kind, code, message = OTHER, type(exc).__name__, str(exc)[:300]
        finally:
            connections.release()
        self._done(seq)
        if result is not None:
            self._record(result, prompt)
            if result.outcome != OK:
                kind, code = OUTCOME_CODES.get(result.outcome, (OTHER, result.outcome))
                message = result.message
        worker._complete(kind, status, code, message, intended, actual, perf())

    def _done(self, seq: int) -> None:
        self.worker.in_flight.pop(seq, None)
        self.worker._timed_out.discard(seq)

    def _failed(self, reader: StreamReader | None, outcome: str, message: str,
                intended: float, actual: float) -> StreamResult:
        now = time.perf_counter()
        if reader is not None:
            return reader.fail(now, outcome, message)
        return StreamResult(outcome, 0, True, None, None, None, now - intended, now - actual,
                            None, 0, message)

    def _record(self, result: StreamResult, prompt: Prompt) -> None:
        counts = self.counts
        counts.output_tokens += result.output_tokens
        if result.tokens_estimated:
            counts.output_tokens_estimated += result.output_tokens
        counts.input_tokens += (result.input_tokens if result.input_tokens is not None
                                else prompt.input_words)
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
        tick.stream_errors = counts.stream_errors
        for histogram in counts.histograms():
            hdr.release(histogram)

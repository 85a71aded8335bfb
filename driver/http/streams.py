"""Reading one streamed LLM answer as it arrives: frames, lines, payloads, tokens and timing.

A ``StreamReader`` is fed the response body in whatever pieces the socket gives
(``feed(data, now)``) and ends with ``end(now)`` (or ``fail``), which returns a
``StreamResult``. Layers, each cheap per piece:

- transport: SageMaker's AWS event stream (``EventStreamDecoder``, botocore's own
  ``EventStreamBuffer``; ``PayloadPart`` bytes out, ``ModelStreamError`` and
  ``InternalStreamFailure`` as outcomes) or raw bytes (an OpenAI-compatible SSE body);
- ``LineBuffer``: lines reassembled across pieces, since a ``PayloadPart`` can end anywhere;
- ``PayloadReader``: one line of a payload shape (OpenAI chunks, TGI ``generate_stream``
  tokens, JSON lines) to a token count, the exact totals the stream reports (usage,
  ``details.generated_tokens``) and whether the answer is complete;
- ``StreamTiming``: TTFT from the intended and from the actual send, ITL (the gap since the
  previous piece with tokens, spread over that piece's tokens and handed to ``on_itl`` as
  ``(microseconds, count)`` so a histogram records it without a list per request), TPOT =
  (e2e − TTFT) / (output tokens − 1) and e2e.

Nothing here reads a clock or does I/O; the caller passes ``time.perf_counter()`` values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, ParserError

# Transports
SAGEMAKER_EVENT_STREAM = "sagemaker"
SSE = "sse"
# Payload shapes
OPENAI_CHUNKS = "openai"
TGI_TOKENS = "tgi"
JSON_LINES = "jsonl"
SHAPES = (OPENAI_CHUNKS, TGI_TOKENS, JSON_LINES)
# The shape a target streams unless the profile names one: SageMaker LLM containers (the
# Hugging Face TGI DLC) stream generate_stream tokens; OpenAI-compatible servers, chunks.
DEFAULT_SHAPE = {SAGEMAKER_EVENT_STREAM: TGI_TOKENS, SSE: OPENAI_CHUNKS}

# Outcomes
OK = "ok"  # the same word as metrics.records.OK: a stream that ended whole is an ok request
STREAM_CUT = "stream_cut"  # the body ended before the answer was complete
MALFORMED_FRAME = "malformed_frame"  # an event-stream frame botocore cannot parse
CRC_ERROR = "crc_error"  # a frame whose prelude or message CRC does not match
MALFORMED_PAYLOAD = "malformed_payload"  # a line that is not the shape's JSON
MODEL_STREAM_ERROR = "model_stream_error"
INTERNAL_STREAM_FAILURE = "internal_stream_failure"
# ModelStreamError with ErrorCode ModelInvocationTimeExceeded: SageMaker's model time limit,
# a timeout rather than a model error (botocore's sagemaker-runtime model names the code).
MODEL_TIMEOUT = "model_timeout"
STREAM_OUTCOMES = (OK, STREAM_CUT, MALFORMED_FRAME, CRC_ERROR, MALFORMED_PAYLOAD,
                   MODEL_STREAM_ERROR, INTERNAL_STREAM_FAILURE, MODEL_TIMEOUT)


class StreamError(Exception):
    """The stream cannot go on; ``outcome`` is one of the outcomes above."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class EventStreamDecoder:
    """SageMaker's response stream to the container's bytes, fed arbitrary pieces."""

    __slots__ = ("_buffer", "_pending")

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self._pending = 0  # bytes fed that no complete frame has used yet

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads of the ``PayloadPart`` events completed by ``data``."""
        self._buffer.add_data(data)
        self._pending += len(data)
        parts: list[bytes] = []
        try:
            for message in self._buffer:
                self._pending -= message.prelude.total_length
                headers = message.headers
                kind = headers.get(":message-type")
                if kind == "event":
                    if headers.get(":event-type") == "PayloadPart":
                        parts.append(message.payload)
                    continue
                raise _exception_of(kind, headers, message.payload)
        except ChecksumMismatch as error:
            raise StreamError(CRC_ERROR, f"event-stream checksum mismatch: {error}") from None
        except ParserError as error:
            raise StreamError(MALFORMED_FRAME, f"malformed event-stream frame: {error}") \
                from None
        return parts

    @property
    def partial(self) -> bool:
        """A frame has started and not ended (a stream cut inside a frame)."""
        return self._pending > 0


def _exception_of(kind: object, headers: dict, payload: bytes) -> StreamError:
    if kind == "exception":
        name = str(headers.get(":exception-type", "exception"))
        try:
            body = json.loads(payload or b"{}")
        except ValueError:
            body = {}
        detail = body.get("Message") or body.get("message") or ""
        code = body.get("ErrorCode")
        text = f"{name}{f' ({code})' if code else ''}: {detail}".rstrip(": ")
        outcome = MODEL_STREAM_ERROR if name == "ModelStreamError" else \
            INTERNAL_STREAM_FAILURE
        if outcome == MODEL_STREAM_ERROR and code == "ModelInvocationTimeExceeded":
            outcome = MODEL_TIMEOUT
        return StreamError(outcome, text)
    code = headers.get(":error-code", "error")
    return StreamError(INTERNAL_STREAM_FAILURE, f"{code}: {headers.get(':error-message', '')}")


class LineBuffer:
    """Bytes in, complete lines out (without the newline); the rest waits for more."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        if b"\n" not in data:
            self._rest += data
            return []
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        return lines

    @property
    def rest(self) -> bytes:
        return self._rest


class PayloadReader:
    """One payload shape, a line at a time: tokens, exact totals, and completeness."""

    __slots__ = ("counted", "done", "exact_input", "exact_output", "shape")

    def __init__(self, shape: str) -> None:
        if shape not in SHAPES:
            raise ValueError(f"unknown stream shape {shape!r}; known: {', '.join(SHAPES)}")
        self.shape = shape
        self.counted = 0  # tokens counted from chunks
        self.exact_output: int | None = None
        self.exact_input: int | None = None
        self.done = False

    def line(self, line: bytes) -> int:
        """Read one line; returns the tokens it carried (estimated: one per non-empty chunk)."""
        line = line.strip()
        if not line:
            return 0
        if self.shape != JSON_LINES:
            if not line.startswith(b"data:"):
                return 0  # SSE comments, event: and id: fields carry no tokens
            line = line[5:].lstrip()
            if line == b"[DONE]":
                self.done = True
                return 0
        try:
            data = json.loads(line)
        except ValueError:
            raise StreamError(MALFORMED_PAYLOAD,
                              f"not JSON: {line[:80].decode(errors='replace')}") from None
        if not isinstance(data, dict):
            raise StreamError(MALFORMED_PAYLOAD, "a streamed payload is not a JSON object")
        tokens = self._openai(data) if self.shape == OPENAI_CHUNKS else self._tgi(data)
        self.counted += tokens
        return tokens

    def _openai(self, data: dict) -> int:
        if "error" in data or data.get("object") == "error":
            error = data.get("error", data)
            message = error.get("message", error) if isinstance(error, dict) else error
            raise StreamError(MODEL_STREAM_ERROR, f"the server sent an error: {message}")
        usage = data.get("usage")
        if usage:
            self.exact_output = usage.get("completion_tokens", self.exact_output)
            self.exact_input = usage.get("prompt_tokens", self.exact_input)
        tokens = 0
        for choice in data.get("choices") or ():
            delta = choice.get("delta")
            text = delta.get("content") if delta is not None else choice.get("text")
            if text:
                tokens += 1
        return tokens

    def _tgi(self, data: dict) -> int:
        if "error" in data:
            raise StreamError(MODEL_STREAM_ERROR, f"the server sent an error: {data['error']}")
        details = data.get("details")
        if details:
            self.exact_output = details.get("generated_tokens", self.exact_output)
        if data.get("generated_text") is not None and self.shape == TGI_TOKENS:
            self.done = True
        token = data.get("token")
        if token is None:
            return 0
        return 0 if isinstance(token, dict) and token.get("special") else 1


@dataclass(slots=True)
class StreamResult:
    """One streamed request, as the tick will need it. Times in seconds."""

    outcome: str
    output_tokens: int
    tokens_estimated: bool  # counted from chunks, the stream reported no exact total
    input_tokens: int | None  # from the stream's usage, when it reported one
    ttft_s: float | None  # from the intended send; None if no token came
    ttft_sent_s: float | None  # from the actual send
    e2e_s: float  # from the intended send
    e2e_sent_s: float
    tpot_s: float | None  # (e2e - TTFT) / (output tokens - 1), with at least 2 tokens
    chunks: int  # pieces that carried tokens
    message: str = ""


class StreamTiming:
    """The per-request timing accumulator; ``tokens(now, n)`` is the hot call."""

    __slots__ = ("chunks", "first_at", "intended", "last_at", "on_itl", "sent", "tokens_seen")

    def __init__(self, intended: float, sent: float,
                 on_itl: Callable[[int, int], None] | None = None) -> None:
        self.intended = intended
        self.sent = sent
        self.on_itl = on_itl
        self.first_at: float | None = None
        self.last_at = sent
        self.tokens_seen = 0
        self.chunks = 0

    def tokens(self, now: float, count: int) -> None:
        """``count`` tokens arrived together at ``now``."""
        if count <= 0:
            return
        if self.first_at is None:
            self.first_at = now
            count_after_first = count - 1  # the rest of the first piece came with it: gap 0
            if count_after_first and self.on_itl is not None:
                self.on_itl(0, count_after_first)
        elif self.on_itl is not None:
            self.on_itl(round((now - self.last_at) * 1e6 / count), count)
        self.last_at = now
        self.tokens_seen += count
        self.chunks += 1

    def result(self, now: float, outcome: str, reader: PayloadReader | None,
               message: str = "") -> StreamResult:
        exact = reader.exact_output if reader is not None else None
        output = exact if exact is not None else self.tokens_seen
        first = self.first_at
        tpot = None
        if first is not None and output > 1 and outcome == OK:
            tpot = (now - first) / (output - 1)
        return StreamResult(
            outcome, output, exact is None,
            reader.exact_input if reader is not None else None,
            None if first is None else first - self.intended,
            None if first is None else first - self.sent,
            now - self.intended, now - self.sent, tpot, self.chunks, message)


class StreamReader:
    """Everything above for one response body: ``feed`` pieces, then ``end`` or ``fail``."""

    __slots__ = ("_decoder", "_lines", "_reader", "_timing", "failure", "message")

    def __init__(self, transport: str, shape: str, intended: float, sent: float,
                 on_itl: Callable[[int, int], None] | None = None) -> None:
        if transport not in DEFAULT_SHAPE:
            raise ValueError(f"unknown transport {transport!r}")
        self._decoder = EventStreamDecoder() if transport == SAGEMAKER_EVENT_STREAM else None
        self._lines = LineBuffer()
        self._reader = PayloadReader(shape)
        self._timing = StreamTiming(intended, sent, on_itl)
        self.failure: str | None = None
        self.message = ""

    @property
    def first_token_at(self) -> float | None:
        """When the first token arrived (None before): the TTFT timeout's switch."""
        return self._timing.first_at

    @property
    def complete(self) -> bool:
        """The payload said the answer is whole ([DONE], TGI's generated_text)."""
        return self._reader.done

    def feed(self, data: bytes, now: float) -> bool:
        """Take one piece of the body; False once the stream has failed (stop reading)."""
        if self.failure is not None:
            return False
        try:
            parts = [data] if self._decoder is None else self._decoder.feed(data)
            tokens = 0
            line_of = self._reader.line
            for part in parts:
                for line in self._lines.feed(part):
                    tokens += line_of(line)
        except StreamError as error:
            self.failure, self.message = error.outcome, error.message
            return False
        self._timing.tokens(now, tokens)
        return True

    def end(self, now: float) -> StreamResult:
        """The body ended: OK if the answer was complete, else a cut stream."""
        if self.failure is None:
            try:
                rest = self._lines.rest
                if rest.strip():
                    self._timing.tokens(now, self._reader.line(rest))
            except StreamError as error:
                self.failure, self.message = error.outcome, error.message
        if self.failure is None:
            reader = self._reader
            cut = self._decoder is not None and self._decoder.partial
            if cut or not (reader.done or reader.shape == JSON_LINES):
                self.failure = STREAM_CUT
                self.message = "the stream ended before the answer was complete"
        return self.fail(now, self.failure or OK, self.message)

    def fail(self, now: float, outcome: str, message: str = "") -> StreamResult:
        """End now with ``outcome`` (a timeout, a dropped connection), keeping what came."""
        return self._timing.result(now, outcome, self._reader, message)

"""driver.http.streams against the sandbox's real streams, an independent SSE server, and faults."""

from __future__ import annotations

import asyncio
import json
import struct
import time
import zlib
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from driver.http.streams import (
    CRC_ERROR,
    INTERNAL_STREAM_FAILURE,
    JSON_LINES,
    MALFORMED_FRAME,
    MALFORMED_PAYLOAD,
    MODEL_STREAM_ERROR,
    OK,
    OPENAI_CHUNKS,
    SAGEMAKER_EVENT_STREAM,
    SSE,
    STREAM_CUT,
    TGI_TOKENS,
    LineBuffer,
    StreamReader,
    StreamTiming,
)
from sandbox.config import INSTANCE_PROFILES, SandboxConfig
from sandbox.eventstream import encode_message, exception_event, payload_part
from sandbox.server import SandboxThread
from tests.servers.loopback import serving


class Itl:
    """An ITL sink like a histogram's record_value(value, count)."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, int]] = []

    def __call__(self, microseconds: int, count: int) -> None:
        self.samples.append((microseconds, count))

    @property
    def count(self) -> int:
        return sum(c for _, c in self.samples)


# --- the sandbox's real streams, recorded once ----------------------------------------------

BODIES = {
    "tgi": (SAGEMAKER_EVENT_STREAM, TGI_TOKENS,
            {"inputs": "a b c", "parameters": {"max_new_tokens": 30}}),
    "chat": (SAGEMAKER_EVENT_STREAM, OPENAI_CHUNKS,
             {"messages": [{"role": "user", "content": "a b"}], "max_tokens": 30,
              "stream": True, "stream_options": {"include_usage": True}}),
    "sse": (SSE, OPENAI_CHUNKS, {"prompt": "a b", "max_tokens": 30, "stream": True}),
}

# One worker for the module: the sandbox behind `recorded` is started once per worker.
pytestmark = pytest.mark.xdist_group("streams")


@pytest.fixture(scope="module")
def recorded() -> Iterator[dict[str, bytes]]:
    """Raw response bodies of the sandbox's LLM instance, one per route and shape."""
    config = SandboxConfig(profile=INSTANCE_PROFILES["ml.g5.2xlarge"], seed=3)
    with SandboxThread(config) as handle:
        async def fetch(name: str) -> bytes:
            transport, _, body = BODIES[name]
            data = json.dumps(body).encode()
            if transport == SSE:
                url, headers = f"{handle.endpoint_url}/v1/completions", {
                    "Content-Type": "application/json"}
            else:
                url = (f"{handle.endpoint_url}/endpoints/{handle.endpoint_name}/"
                       "invocations-response-stream")
                request = AWSRequest(method="POST", url=url, data=data,
                                     headers={"Content-Type": "application/json"})
                SigV4Auth(Credentials(handle.credentials.access_key_id,
                                      handle.credentials.secret_access_key),
                          "sagemaker", handle.region).add_auth(request)
                headers = dict(request.headers.items())
            async with aiohttp.ClientSession() as session, session.post(
                    url, data=data, headers=headers) as response:
                assert response.status == 200
                return await response.read()

        async def all_of() -> dict[str, bytes]:
            return {name: await fetch(name) for name in BODIES}
        yield asyncio.run(all_of())


def text_events(raw: bytes, transport: str) -> int:
    """Events that carry text, decoded without our reader (botocore's event-stream parser,
    then the JSON): a busy sandbox sends tokens that became ready together in one event,
    as a busy server does, so a stream of 30 tokens may have fewer."""
    if transport == SAGEMAKER_EVENT_STREAM:
        frames = EventStreamBuffer()
        frames.add_data(raw)
        raw = b"".join(frame.payload for frame in frames)
    count = 0
    for event in raw.split(b"\n\n"):
        data = event.strip().removeprefix(b"data:").strip()
        if not data or data == b"[DONE]":
            continue
        answer = json.loads(data)
        if "token" in answer:  # TGI
            count += bool(answer["token"].get("text"))
        else:
            count += any(choice.get("text") or (choice.get("delta") or {}).get("content")
                         for choice in answer.get("choices", []))
    return count


def read_in_pieces(raw: bytes, cuts: list[int], transport: str, shape: str,
                   itl: Itl | None = None) -> tuple[StreamReader, object]:
    reader = StreamReader(transport, shape, intended=0.0, sent=0.5, on_itl=itl)
    start, now = 0, 1.0
    for cut in [*sorted(set(cuts)), len(raw)]:
        now += 0.01
        reader.feed(raw[start:cut], now)
        start = cut
    return reader, reader.end(now + 0.01)


@pytest.mark.parametrize("name", list(BODIES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_sandbox_streams_decode_in_any_chunking(recorded: dict[str, bytes], name: str,
                                                    data: st.DataObject) -> None:
    transport, shape, _ = BODIES[name]
    raw = recorded[name]
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=40))
    itl = Itl()
    _, result = read_in_pieces(raw, cuts, transport, shape, itl)
    # Exact when the stream says so: TGI's details, OpenAI usage (asked for on chat only);
    # else one per event with text.
    assert result.tokens_estimated is (name == "sse")  # type: ignore[attr-defined]
    assert result.outcome == OK  # type: ignore[attr-defined]
    assert result.output_tokens == (  # type: ignore[attr-defined]
        text_events(raw, transport) if name == "sse" else 30)
    # Every event with text after the first gave an inter-token sample (29 when each token
    # came alone).
    assert itl.count == text_events(raw, transport) - 1
    assert result.ttft_s - result.ttft_sent_s == pytest.approx(0.5)  # type: ignore[attr-defined]


def test_a_stream_cut_inside_a_frame_keeps_its_tokens(recorded: dict[str, bytes]) -> None:
    raw = recorded["tgi"]
    _, result = read_in_pieces(raw[:len(raw) // 2], [], SAGEMAKER_EVENT_STREAM, TGI_TOKENS)
    assert result.outcome == STREAM_CUT and 5 < result.output_tokens < 30  # type: ignore[attr-defined]


def test_an_sse_stream_without_done_is_cut(recorded: dict[str, bytes]) -> None:
    raw = recorded["sse"]
    body = raw[:raw.rindex(b"data: [DONE]")]
    _, result = read_in_pieces(body, [], SSE, OPENAI_CHUNKS)
    assert result.outcome == STREAM_CUT  # type: ignore[attr-defined]
    assert result.output_tokens == text_events(raw, SSE)  # type: ignore[attr-defined]


# --- faults ----------------------------------------------------------------------------------

TOKEN = b'data:{"token":{"id":1,"text":" a","special":false},"generated_text":null}\n\n'


def feed_all(transport: str, shape: str, *pieces: bytes) -> object:
    reader = StreamReader(transport, shape, 0.0, 0.0)
    for i, piece in enumerate(pieces):
        if not reader.feed(piece, 1.0 + i):
            break
    return reader.end(10.0)


def test_a_bad_crc_is_a_crc_error_with_the_tokens_before_it() -> None:
    bad = bytearray(payload_part(TOKEN))
    bad[20] ^= 0xFF
    result = feed_all(SAGEMAKER_EVENT_STREAM, TGI_TOKENS, payload_part(TOKEN), bytes(bad))
    assert result.outcome == CRC_ERROR and result.output_tokens == 1  # type: ignore[attr-defined]


def test_a_malformed_frame() -> None:
    # A prelude whose CRC is right but whose headers claim more than the 128 KiB allowed.
    prelude = struct.pack(">II", 16 + 200_000, 200_000)
    frame = prelude + struct.pack(">I", zlib.crc32(prelude)) + b"\0" * 8
    result = feed_all(SAGEMAKER_EVENT_STREAM, TGI_TOKENS, frame)
    assert result.outcome == MALFORMED_FRAME  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kind", "outcome"), [("ModelStreamError", MODEL_STREAM_ERROR),
                                               ("InternalStreamFailure",
                                                INTERNAL_STREAM_FAILURE)])
def test_exception_events(kind: str, outcome: str) -> None:
    result = feed_all(SAGEMAKER_EVENT_STREAM, TGI_TOKENS, payload_part(TOKEN * 2),
                      exception_event(kind, "it broke", "StreamBroken"))
    assert result.outcome == outcome and result.output_tokens == 2  # type: ignore[attr-defined]
    assert kind in result.message and "it broke" in result.message  # type: ignore[attr-defined]


def test_other_events_are_skipped() -> None:
    other = encode_message({":message-type": "event", ":event-type": "Other"}, b"x")
    final = (b'data:{"token":{"id":2,"text":" b","special":false},"generated_text":" a b",'
             b'"details":{"generated_tokens":2}}\n\n')
    result = feed_all(SAGEMAKER_EVENT_STREAM, TGI_TOKENS, payload_part(TOKEN), other,
                      payload_part(final))
    assert result.outcome == OK and result.output_tokens == 2  # type: ignore[attr-defined]


def test_malformed_payloads_and_shapes() -> None:
    assert feed_all(SSE, OPENAI_CHUNKS, b"data: {nope\n\n").outcome == MALFORMED_PAYLOAD  # type: ignore[attr-defined]
    assert feed_all(SSE, OPENAI_CHUNKS, b'data: {"error": {"message": "overloaded"}}\n\n'
                    ).outcome == MODEL_STREAM_ERROR  # type: ignore[attr-defined]
    special = b'data:{"token":{"id":2,"text":"</s>","special":true},"generated_text":"x"}\n\n'
    result = feed_all(SSE, TGI_TOKENS, TOKEN, special)
    assert result.outcome == OK and result.output_tokens == 1  # type: ignore[attr-defined]
    lines = b'{"token": {"text": " a"}}\n{"token": {"text": " b"}}\n'
    result = feed_all(SSE, JSON_LINES, lines[:10], lines[10:])
    assert result.outcome == OK and result.output_tokens == 2  # type: ignore[attr-defined]
    assert result.tokens_estimated  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        StreamReader(SSE, "xml", 0.0, 0.0)


def test_line_buffer_reassembles_lines_across_pieces() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b"da") == []
    assert buffer.feed(b"ta: 1\ndata: 2\n\nda") == [b"data: 1", b"data: 2", b""]
    assert buffer.rest == b"da"


# --- timing ----------------------------------------------------------------------------------

def test_timing_from_intended_and_actual_send_and_tpot() -> None:
    itl = Itl()
    timing = StreamTiming(intended=10.0, sent=10.2, on_itl=itl)
    timing.tokens(10.5, 1)  # first token
    timing.tokens(10.6, 2)  # two tokens in one piece: 50 ms each
    timing.tokens(10.6, 0)  # a piece with no tokens changes nothing
    timing.tokens(10.9, 1)
    result = timing.result(11.0, OK, None)
    assert result.ttft_s == pytest.approx(0.5) and result.ttft_sent_s == pytest.approx(0.3)
    assert result.e2e_s == pytest.approx(1.0) and result.e2e_sent_s == pytest.approx(0.8)
    assert result.tpot_s == pytest.approx(0.5 / 3)  # (e2e - TTFT) / (4 - 1)
    assert itl.samples == [(50_000, 2), (300_000, 1)]
    assert result.tokens_estimated and result.chunks == 3
    none = StreamTiming(0.0, 0.0).result(5.0, STREAM_CUT, None)
    assert none.ttft_s is None and none.tpot_s is None and none.output_tokens == 0


# --- an independent SSE server with known delays ---------------------------------------------

FIRST_TOKEN_S = 0.150
INTERVAL_S = 0.040


async def known_server(request: web.Request) -> web.StreamResponse:
    """First token after FIRST_TOKEN_S, then one every INTERVAL_S; the last piece holds two."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await asyncio.sleep(FIRST_TOKEN_S)
    for i in range(8):
        chunk = {"choices": [{"index": 0, "text": f" t{i}", "finish_reason": None}]}
        await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await asyncio.sleep(INTERVAL_S)
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 9}}
    await response.write(b"data: " + json.dumps({"choices": [{"text": " x"}]}).encode()
                         + b"\n\ndata: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
    await response.write_eof()
    return response


def test_timing_against_a_server_with_known_delays() -> None:
    async def run() -> tuple[object, Itl]:
        app = web.Application()
        app.router.add_post("/v1/completions", known_server)
        itl = Itl()
        async with serving(app) as url, aiohttp.ClientSession() as session:
            intended = time.perf_counter()
            reader = StreamReader(SSE, OPENAI_CHUNKS, intended, time.perf_counter(), itl)
            async with session.post(f"{url}/v1/completions", json={}) as response:
                async for piece in response.content.iter_any():
                    reader.feed(piece, time.perf_counter())
            return reader.end(time.perf_counter()), itl
    result, itl = asyncio.run(run())
    assert result.outcome == OK and result.output_tokens == 9  # type: ignore[attr-defined]
    assert not result.tokens_estimated  # type: ignore[attr-defined]
    # Never earlier than the server's delays; later only by scheduling (loose: shared machine).
    assert FIRST_TOKEN_S <= result.ttft_sent_s < FIRST_TOKEN_S + 0.25  # type: ignore[attr-defined]
    gaps = sorted(us for us, _ in itl.samples[:7])
    assert gaps[0] >= INTERVAL_S * 1e6 * 0.9 and gaps[3] < (INTERVAL_S + 0.05) * 1e6


def test_the_first_token_is_the_first_piece_with_text() -> None:
    reader = StreamReader(SSE, OPENAI_CHUNKS, 0.0, 0.0)
    reader.feed(b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n', 1.0)
    assert reader.first_token_at is None
    reader.feed(b'data: {"choices":[{"delta":{"content":" x"}}]}\n\n', 2.0)
    assert reader.first_token_at == 2.0 and not reader.complete
    reader.feed(b"data: [DONE]\n\n", 3.0)
    assert reader.complete and reader.end(3.0).ttft_s == 2.0

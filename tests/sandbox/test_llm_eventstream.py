"""The sandbox's event-stream encoder, checked by decoding with botocore's own parser."""

from __future__ import annotations

import json
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st

from sandbox.eventstream import encode_message, exception_event, payload_part


def decode(data: bytes, cuts: list[int]) -> list:
    buffer = EventStreamBuffer()
    messages = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        buffer.add_data(data[start:cut])
        start = cut
        messages.extend(buffer)
    return messages


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.data())
def test_payload_parts_decode_in_any_chunking(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(payload_part(p) for p in payloads)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    messages = decode(stream, cuts)
    assert [m.payload for m in messages] == payloads
    for message in messages:
        assert message.headers == {":event-type": "PayloadPart",
                                   ":content-type": "application/octet-stream",
                                   ":message-type": "event"}


@given(st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda s: len(s.encode()) < 256),
                       st.text(max_size=50), max_size=5), st.binary(max_size=100))
def test_any_string_headers_round_trip(headers: dict[str, str], payload: bytes) -> None:
    [message] = decode(encode_message(headers, payload), [])
    assert message.headers == headers and message.payload == payload


def test_exception_events_carry_their_type_and_json_body() -> None:
    [message] = decode(exception_event("ModelStreamError", "broke", "StreamBroken"), [])
    assert message.headers[":message-type"] == "exception"
    assert message.headers[":exception-type"] == "ModelStreamError"
    assert json.loads(message.payload) == {"Message": "broke", "ErrorCode": "StreamBroken"}


def test_a_flipped_payload_byte_fails_the_message_crc() -> None:
    frame = bytearray(payload_part(b'data:{"token":1}\n\n'))
    frame[-6] ^= 0x01
    with pytest.raises(ChecksumMismatch):
        decode(bytes(frame), [])
    # and both CRCs are what zlib computes
    good = payload_part(b"x")
    assert int.from_bytes(good[8:12], "big") == zlib.crc32(good[:8])
    assert int.from_bytes(good[-4:], "big") == zlib.crc32(good[:-4])

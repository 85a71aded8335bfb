"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), encoding side only.

botocore decodes these frames (``botocore.eventstream.EventStreamBuffer``) but has no encoder,
so the sandbox writes its own: a 12-byte prelude (total length, headers length, CRC32 of those
8 bytes), the headers, the payload, and a CRC32 of everything before it. Only string headers
(type 7) are needed for SageMaker's ``InvokeEndpointWithResponseStream``.
"""

from __future__ import annotations

import json
import struct
import zlib

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode()
        raw_value = value.encode()
        out += bytes((len(raw_name),)) + raw_name + bytes((_STRING,))
        out += struct.pack(">H", len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with its prelude and both CRCs."""
    raw_headers = encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(raw_headers))
    head = prelude + _CRC.pack(zlib.crc32(prelude)) + raw_headers + payload
    return head + _CRC.pack(zlib.crc32(head))


_PAYLOAD_PART_HEADERS = encode_headers({
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
})


def payload_part(data: bytes) -> bytes:
    """A ``PayloadPart`` event carrying ``data`` (the container's bytes) as its payload."""
    total = 12 + len(_PAYLOAD_PART_HEADERS) + len(data) + 4
    prelude = _PRELUDE.pack(total, len(_PAYLOAD_PART_HEADERS))
    head = prelude + _CRC.pack(zlib.crc32(prelude)) + _PAYLOAD_PART_HEADERS + data
    return head + _CRC.pack(zlib.crc32(head))


def exception_event(kind: str, message: str, error_code: str | None = None) -> bytes:
    """A modelled exception event: ``ModelStreamError`` or ``InternalStreamFailure``."""
    body: dict[str, str] = {"Message": message}
    if error_code is not None:
        body["ErrorCode"] = error_code
    return encode_message({
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }, json.dumps(body).encode())

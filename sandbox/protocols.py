"""Wire formats: AWS JSON 1.0/1.1, Smithy RPC v2 CBOR and the runtime's REST-JSON errors.

Operation handlers take and return plain dicts with ``datetime`` timestamps; this module turns
request bodies into such dicts and dicts (or an AwsError) into response bodies and headers.

CBOR is encoded and decoded with the ``cbor2`` package rather than botocore's internals:
botocore only has a request encoder and a response decoder (the server needs the opposite
pair), they are private, shape-driven methods that change between releases, and cbor2 is a
complete, maintained RFC 8949 implementation (indefinite lengths, half floats, tags) with a C
extension. Timestamps travel as tag 1 epoch seconds in both directions, as Smithy specifies.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import cbor2

from sandbox.errors import AwsError

JSON_1_0 = "application/x-amz-json-1.0"
JSON_1_1 = "application/x-amz-json-1.1"
CBOR = "application/cbor"
REST_JSON = "rest-json"


def decode_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError as error:
        raise AwsError("SerializationException", f"Malformed JSON request body: {error}") from None
    if not isinstance(value, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.")
    return value


def decode_cbor(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = cbor2.loads(body)
    except (cbor2.CBORDecodeError, ValueError) as error:
        raise AwsError("SerializationException", f"Malformed CBOR request body: {error}") from None
    if not isinstance(value, dict):
        raise AwsError("SerializationException", "The request body must be a CBOR map.")
    return value


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode(content_type: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A successful response body and its headers, in the request's protocol."""
    if content_type == CBOR:
        body = cbor2.dumps(payload, datetime_as_timestamp=True)
        return body, {"Content-Type": CBOR, "smithy-protocol": "rpc-v2-cbor"}
    return json.dumps(payload, default=_json_default).encode(), {"Content-Type": content_type}


def encode_error(content_type: str, error: AwsError,
                 query_compatible: bool = False) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) for an error, so botocore raises ``error.code``.

    For a query-compatible service (CloudWatch) the old query code goes in x-amzn-query-error,
    which botocore reports as the code, as it does against AWS.
    """
    headers: dict[str, str] = {}
    if content_type == REST_JSON:
        # The runtime's bodies, as SageMaker sends them: ErrorCode and Message, plus the
        # modeled members (ModelError's OriginalStatusCode...). ErrorCode is SageMaker's own
        # where one is documented (fields), else the error's code.
        body = {"ErrorCode": error.code, "Message": error.message, **error.fields}
        headers["x-amzn-ErrorType"] = f"{error.code}:http://internal.amazon.com/coral/"
        headers["Content-Type"] = "application/json"
        return error.status, json.dumps(body).encode(), headers
    payload: dict[str, Any] = {"message": error.message, **error.fields}
    payload["__type"] = f"com.amazonaws.sandbox#{error.code}"
    if query_compatible and error.query_code:
        sender = "Sender" if error.status < 500 else "Receiver"
        headers["x-amzn-query-error"] = f"{error.query_code};{sender}"
    body, encoded_headers = encode(content_type, payload)
    headers.update(encoded_headers)
    return error.status, body, headers


def to_epoch(value: object, name: str) -> float:
    """A request timestamp (CBOR datetime, JSON epoch number or ISO 8601 text) in epoch seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return to_epoch(datetime.fromisoformat(value.replace("Z", "+00:00")), name)
        except ValueError:
            pass
    raise AwsError("ValidationException", f"{name} is not a valid timestamp: {value!r}",
                   query_code="InvalidParameterValue")


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)

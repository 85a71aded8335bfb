"""The SageMaker runtime as a worker target: InvokeEndpoint over HTTPS, signed with SigV4.

``prepare`` turns a rendered request into ``POST {runtime}/endpoints/NAME/invocations`` with the
InvokeEndpoint headers (content type, accept, custom attributes, target variant, inference
component) and signs it
with botocore's SigV4 signer (signing name ``sagemaker``). X-Amz-Date has one-second
resolution, so a request whose inputs are the same as one signed earlier in the same second
gets the same headers back without signing again: with one payload row that is every request
but the first of each second. ``bench/sigv4_cost.py`` measures what that saves.

The spec reaching the worker (JSON on its stdin, never on a command line or in a recording)::

    {"kind": "sagemaker", "runtime_url": "https://runtime.sagemaker.REGION.amazonaws.com",
     "region": "...", "endpoint": "NAME", "content_type": ..., "accept": ...,
     "custom_attributes": ..., "target_variant": ..., "inference_component": ...,
     "stream": bool, "llm": {...},
     "credentials": {"access_key": ..., "secret_key": ..., "token": ...}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from driver.http.targets import (
    OUTCOME_OK,
    THROTTLING_CODES,
    HttpTarget,
    Outcome,
    Prepared,
    aws_error_code,
    body_message,
)
from metrics.records import HTTP_4XX, HTTP_5XX, OTHER, THROTTLED

SIGNING_NAME = "sagemaker"
HEADER_CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
HEADER_TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
# botocore's sagemaker-runtime model: InferenceComponentName travels in this header on both
# InvokeEndpoint and InvokeEndpointWithResponseStream; the streaming call's Accept travels as
# X-Amzn-SageMaker-Accept (a plain Accept header is not the operation's and is dropped).
HEADER_INFERENCE_COMPONENT = "X-Amzn-SageMaker-Inference-Component"
HEADER_STREAM_ACCEPT = "X-Amzn-SageMaker-Accept"
# What SageMaker's runtime answers with when no error type header says otherwise.
CODE_BY_STATUS = {
    400: "ValidationError",
    403: "AccessDenied",
    404: "NotFound",
    424: "ModelError",
    429: "ThrottlingException",
    500: "InternalFailure",
    503: "ServiceUnavailable",
}
# ModelNotReadyException comes as a 429 but is not throttling: the model is not loaded.
NOT_THROTTLING = frozenset({"ModelNotReadyException"})


class SageMakerTarget(HttpTarget):
    """Invokes one SageMaker endpoint; every request signed as its sender."""

    kind = "sagemaker"

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        try:
            endpoint = spec["endpoint"]
            runtime = str(spec["runtime_url"]).rstrip("/")
            region = spec["region"]
            creds = spec["credentials"]
        except KeyError as exc:
            raise ValueError(f"sagemaker target spec is missing {exc.args[0]!r}") from None
        # A streaming target calls InvokeEndpointWithResponseStream (signed the same way).
        action = "invocations-response-stream" if spec.get("stream") else "invocations"
        self.url = f"{runtime}/endpoints/{quote(endpoint, safe='')}/{action}"
        self.content_type: str | None = spec.get("content_type")
        fixed = {}
        if spec.get("accept"):
            fixed[HEADER_STREAM_ACCEPT if spec.get("stream") else "Accept"] = spec["accept"]
        if spec.get("custom_attributes"):
            fixed[HEADER_CUSTOM_ATTRIBUTES] = spec["custom_attributes"]
        if spec.get("target_variant"):
            fixed[HEADER_TARGET_VARIANT] = spec["target_variant"]
        if spec.get("inference_component"):
            fixed[HEADER_INFERENCE_COMPONENT] = spec["inference_component"]
        self.fixed_headers = fixed
        self.signer = SigV4Auth(
            ReadOnlyCredentials(creds["access_key"], creds["secret_key"], creds.get("token")),
            SIGNING_NAME, region)
        # request id -> (body, signed headers); all entries belong to ``_second``.
        self._signed: dict[int, tuple[bytes | None, dict[str, str]]] = {}
        self._second = -1
        self.signatures = 0  # how many times a request was actually signed
        self.reused = 0

    # The public pieces of botocore's SigV4Auth.add_auth, with the timestamp ours: add_auth
    # reads the clock itself, which would defeat reuse and make signing untestable.
    def sign(self, headers: dict[str, str], body: bytes | None, epoch: float) -> dict[str, str]:
        """The headers plus X-Amz-Date, the security token and Authorization for ``epoch``."""
        timestamp = datetime.fromtimestamp(math.floor(epoch), UTC).strftime(SIGV4_TIMESTAMP)
        request = AWSRequest(method="POST", url=self.url, headers=dict(headers), data=body or b"")
        request.context["timestamp"] = timestamp
        request.headers["X-Amz-Date"] = timestamp
        token = self.signer.credentials.token
        if token:
            request.headers["X-Amz-Security-Token"] = token
        signer = self.signer
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signed_headers = signer.signed_headers(signer.headers_to_sign(request))
        out = dict(request.headers.items())
        out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
                                f"SignedHeaders={signed_headers}, Signature={signature}")
        self.signatures += 1
        return out

    def invocation_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The InvokeEndpoint headers for a request whose profile headers are ``headers``."""
        out = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "host")}
        content_type = self.content_type or next(
            (v for k, v in headers.items() if k.lower() == "content-type"), None)
        if content_type:
            out["Content-Type"] = content_type
        out.update(self.fixed_headers)
        return out

    def prepare(self, request_id: int, method: str, url: str, headers: dict[str, str],
                body: bytes | None, epoch: float) -> Prepared:
        """Sign (or reuse this second's signature for) one invocation.

        ``request_id`` names the rendered request (scenario and payload row): the same id
        means the same headers and body, which is what makes the signature reusable; the
        body is compared by identity as a cheap guard.
        """
        second = math.floor(epoch)
        if second != self._second:
            self._signed.clear()
            self._second = second
        cached = self._signed.get(request_id)
        if cached is not None and cached[0] is body:
            self.reused += 1
            return Prepared("POST", self.url, cached[1], body)
        signed = self.sign(self.invocation_headers(headers), body, epoch)
        self._signed[request_id] = (body, signed)
        return Prepared("POST", self.url, signed, body)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """An outcome class with SageMaker's error code kept (ModelError, ValidationError...)."""
        if 200 <= status < 300:
            return OUTCOME_OK
        code = aws_error_code(headers, body)
        if code is None or code.isupper():
            # A JSON ErrorCode such as CLIENT_ERROR_FROM_MODEL describes the model's own error;
            # the AWS code is the status's.
            code = CODE_BY_STATUS.get(status, f"HTTP {status}")
        message = body_message(body)
        if code in THROTTLING_CODES or (status == 429 and code not in NOT_THROTTLING):
            return Outcome(THROTTLED, code, message)
        if 400 <= status < 500:
            return Outcome(HTTP_4XX, code, message)
        if 500 <= status < 600:
            return Outcome(HTTP_5XX, code, message)
        return Outcome(OTHER, code, message)

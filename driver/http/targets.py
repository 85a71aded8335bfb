"""Targets: how a rendered request becomes an HTTP request, and how a response is classified.

A worker asks its target to ``prepare`` each request (a SageMaker target rewrites the URL to the
runtime and signs it) and to ``classify`` each response into an outcome class and, for errors,
an error code with a message. Targets never touch statistics: the worker counts what they say.
This module owns the plain HTTP target and the types every target shares (``Prepared``,
``Outcome``); other kinds subclass ``HttpTarget`` in their own module (``driver.http.sagemaker``)
and ``driver.http.factory`` builds the one a worker's JSON spec names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metrics.aws_errors import THROTTLING_CODES
from metrics.records import HTTP_4XX, HTTP_5XX, OK, OTHER, THROTTLED


@dataclass(frozen=True, slots=True)
class Prepared:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # one of metrics.records.OUTCOMES
    code: str | None = None  # error code, e.g. ModelError; None for plain HTTP statuses
    message: str = ""


OUTCOME_OK = Outcome(OK)


class HttpTarget:
    """Any HTTP(S) endpoint: the URL and headers are the profile's, statuses classify."""

    kind = "http"

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        self.spec = dict(spec or {})
        self._prepared: dict[int, Prepared] = {}

    def prepare(self, request_id: int, method: str, url: str, headers: dict[str, str],
                body: bytes | None, epoch: float) -> Prepared:
        """The request as it goes out; ``request_id`` names identical requests, ``epoch`` is
        the intended send time (signers use it)."""
        prepared = self._prepared.get(request_id)
        if prepared is None:
            prepared = self._prepared[request_id] = Prepared(method, url, headers, body)
        return prepared

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        if 200 <= status < 300:
            return OUTCOME_OK
        code = aws_error_code(headers, body)
        if status == 429 or code in THROTTLING_CODES:
            return Outcome(THROTTLED, code or "HTTP 429", body_message(body))
        # The body even without an error code: the server's own words ("the model does not
        # exist") go into the first error event of each status, for the summary to show.
        if 400 <= status < 500:
            return Outcome(HTTP_4XX, code, body_message(body))
        if 500 <= status < 600:
            return Outcome(HTTP_5XX, code, body_message(body))
        return Outcome(OTHER, f"HTTP {status}", "")


def aws_error_code(headers: Mapping[str, str], body: bytes) -> str | None:
    """The AWS error code of an error response, from x-amzn-ErrorType or a JSON body."""
    header = headers.get("x-amzn-ErrorType") or headers.get("X-Amzn-ErrorType")
    if header:
        return header.split(":", 1)[0].split("#")[-1] or None
    if body[:1] == b"{":
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if isinstance(data, dict):
            code = data.get("__type") or data.get("code") or data.get("ErrorCode")
            if isinstance(code, str):
                return code.split("#")[-1]
    return None


def body_message(body: bytes) -> str:
    if body[:1] == b"{":
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("message", "Message", "OriginalMessage"):
                if isinstance(data.get(key), str):
                    return " ".join(data[key].split())[:300]
    return " ".join(body[:300].decode("utf-8", "replace").split())


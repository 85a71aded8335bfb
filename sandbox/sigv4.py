"""SigV4 verification: recompute the client's signature with botocore's own signer.

The request as received (method, raw path and query, the headers the client listed in
``SignedHeaders``, the body) is rebuilt as a botocore ``AWSRequest`` and signed with the
sandbox's secret for the scope the client named; the result must equal the client's signature.
Region, service, date and clock skew (5 minutes, as AWS) are checked like AWS does.

A recomputation costs tens of microseconds. A load test sends the same body with the same
headers many times a second, and a signature covers everything it signs, so an identical
request (same Authorization, method, path, signed header values and body) that was verified
during the current wall-clock second is accepted from a small cache without recomputing.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandbox.errors import AwsError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 300.0
_CACHE_LIMIT = 1024
_CACHE_BODY_LIMIT = 64 * 1024  # larger bodies are rare and cost as much to key as to hash


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidSignatureException", message, 403)


SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method. Consult "
                      "the service documentation for details.")


class SignatureVerifier:
    """Checks requests against a fixed set of access keys for one region."""

    def __init__(self, keys: Mapping[str, str], region: str,
                 wall: Callable[[], float] = time.time) -> None:
        self._keys = dict(keys)
        self._region = region
        self._wall = wall
        self._cache: set[tuple[object, ...]] = set()
        self._cache_second = -1
        self.verified = 0  # full recomputations
        self.cache_hits = 0

    def verify(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes,
               service: str) -> None:
        """Return if the request is signed by a known key for ``service``; else raise AwsError."""
        authorization = headers.get("Authorization")
        if not authorization:
            raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token",
                           403)
        now = self._wall()
        second = int(now)
        if second != self._cache_second:
            self._cache.clear()
            self._cache_second = second
        cacheable = len(body) <= _CACHE_BODY_LIMIT
        if cacheable:
            signed = _parse_authorization(authorization)[1]
            key = (authorization, method, raw_path, body,
                   *[headers.get(name, "") for name in signed])
            if key in self._cache:
                self.cache_hits += 1
                return
        self._verify(method, raw_path, headers, body, service, authorization, now)
        self.verified += 1
        if cacheable:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache.add(key)

    def _verify(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes,
                service: str, authorization: str, now: float) -> None:
        credential, signed_headers, signature = _parse_authorization(authorization)
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise AwsError("IncompleteSignatureException",
                           f"Credential should be scoped correctly: {credential!r}.", 400)
        access_key, scope_date, region, scope_service, _ = parts
        secret = self._keys.get(access_key)
        if secret is None:
            raise AwsError("UnrecognizedClientException",
                           "The security token included in the request is invalid.", 403)
        if region != self._region:
            raise _invalid(f"Credential should be scoped to a valid region, not {region!r}. "
                           f"The sandbox's region is {self._region!r}.")
        if scope_service != service:
            raise _invalid(f"Credential should be scoped to correct service: {service!r}.")
        amz_date = headers.get("X-Amz-Date")
        if not amz_date or "x-amz-date" not in signed_headers:
            raise AwsError("IncompleteSignatureException",
                           "Authorization header requires existence of a signed X-Amz-Date "
                           "header.", 400)
        _check_skew(amz_date, now)
        if not amz_date.startswith(scope_date):
            raise _invalid(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                           f"version of date from HTTP: {scope_date!r} != {amz_date[:8]!r}.")
        content_sha = headers.get("X-Amz-Content-SHA256")
        if content_sha and content_sha != UNSIGNED_PAYLOAD and not hmac.compare_digest(
                content_sha, hashlib.sha256(body).hexdigest()):
            raise _invalid("The provided x-amz-content-sha256 header does not match what was "
                           "computed.")
        request = AWSRequest(
            method=method, url=f"http://{headers.get('Host', '')}{raw_path}",
            headers={name: headers.get(name, "") for name in signed_headers}, data=body)
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(access_key, secret), service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, signature):
            raise _invalid(SIGNATURE_MISMATCH)


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    """(credential, signed header names, signature) from an Authorization header."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise AwsError("IncompleteSignatureException",
                       f"Unsupported authorization type {algorithm!r}; use {ALGORITHM}.", 400)
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, field_value = part.strip().partition("=")
        fields[name] = field_value
    try:
        return (fields["Credential"], fields["SignedHeaders"].split(";"),
                fields["Signature"])
    except KeyError as missing:
        raise AwsError("IncompleteSignatureException",
                       f"Authorization header requires {missing.args[0]!r} parameter.",
                       400) from None


def _check_skew(amz_date: str, now: float) -> None:
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AwsError("IncompleteSignatureException",
                       f"X-Amz-Date {amz_date!r} is not in the form YYYYMMDD'T'HHMMSS'Z'.",
                       400) from None
    skew = now - signed_at.timestamp()
    if abs(skew) > MAX_SKEW_S:
        when = "expired" if skew > 0 else "not yet current"
        now_text = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        raise _invalid(f"Signature {when}: {amz_date} is more than 5 minutes from the "
                       f"sandbox's clock ({now_text}).")

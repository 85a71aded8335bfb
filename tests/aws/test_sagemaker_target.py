"""SageMakerTarget: signed InvokeEndpoint requests, signature reuse, SageMaker error codes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import aiohttp
import boto3
import pytest

from driver.http import make_target
from driver.http.sagemaker import SageMakerTarget
from driver.profile import load_profile
from driver.session import Session
from metrics.records import Tick
from tests.aws.conftest import (
    ACCESS_KEY,
    ENDPOINT,
    REGION,
    SECRET_KEY,
    sagemaker_profile,
    target_spec,
)

BODY = b"5,3.5,1.3,0.3"


def prepare(target: SageMakerTarget, epoch: float, request_id: int = 0, body: bytes = BODY,
            headers: dict | None = None):
    return target.prepare(request_id, "POST", "", headers or {"content-type": "text/csv"},
                          body, epoch)


async def send(runtime_url: str, prepared) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession(skip_auto_headers=("User-Agent",)) as http, \
            http.request(prepared.method, prepared.url, headers=prepared.headers,
                         data=prepared.body) as response:
        return response.status, dict(response.headers), await response.read()


def test_make_target_builds_a_sagemaker_target():
    target = make_target(target_spec("https://runtime.sagemaker.us-east-1.amazonaws.com"))
    assert isinstance(target, SageMakerTarget)
    assert target.url == ("https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/"
                          f"{ENDPOINT}/invocations")


def test_the_signature_is_the_one_boto3_computes_for_invoke_endpoint(monkeypatch):
    """Same second, same inputs: our headers and signature are boto3's invoke_endpoint's."""
    frozen = datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: frozen)
    captured = {}

    def capture(request, **_):
        captured["headers"] = dict(request.headers.items())
        captured["url"] = request.url
        raise RuntimeError("captured")  # stop before anything is sent

    client = boto3.client("sagemaker-runtime", region_name=REGION,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          endpoint_url="https://runtime.example.test")
    client.meta.events.register("before-send", capture)
    with pytest.raises(RuntimeError, match="captured"):
        client.invoke_endpoint(EndpointName=ENDPOINT, Body=BODY, ContentType="text/csv",
                               Accept="application/json", CustomAttributes="trace=1",
                               TargetVariant="Blue")
    target = SageMakerTarget(target_spec("https://runtime.example.test",
                                         accept="application/json", custom_attributes="trace=1",
                                         target_variant="Blue"))
    prepared = prepare(target, frozen.timestamp() + 0.4)
    assert prepared.url == captured["url"]
    theirs = {k: v.decode() if isinstance(v, bytes) else v
              for k, v in captured["headers"].items()}
    ours = {k.lower(): v for k, v in prepared.headers.items()}
    lower = {k.lower(): v for k, v in theirs.items()}
    for name in ("content-type", "accept", "x-amzn-sagemaker-custom-attributes",
                 "x-amzn-sagemaker-target-variant", "x-amz-date"):
        assert ours[name] == lower[name], name
    # boto3 signs exactly these headers (its user agent and retry headers come after
    # signing), so the signature must be boto3's own, character for character.
    assert ours["authorization"] == lower["authorization"]


async def test_the_runtime_accepts_our_signature(sigv4_runtime):
    target = SageMakerTarget(target_spec(sigv4_runtime.url))
    status, _, body = await send(sigv4_runtime.url, prepare(target, time.time()))
    assert (status, body) == (200, b"setosa\n")
    assert sigv4_runtime.accepted == 1
    assert sigv4_runtime.seen[0]["Content-Type"] == "text/csv"
    assert sigv4_runtime.bodies == [BODY]


async def test_a_session_token_is_signed_and_sent(sigv4_runtime):
    spec = target_spec(sigv4_runtime.url)
    spec["credentials"]["token"] = "FwoGZXIvYXdzEXAMPLETOKEN"
    status, _, _ = await send(sigv4_runtime.url,
                              prepare(SageMakerTarget(spec), time.time()))
    assert status == 200
    assert sigv4_runtime.seen[0]["X-Amz-Security-Token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    assert "x-amz-security-token" in sigv4_runtime.seen[0]["Authorization"]


@pytest.mark.parametrize(("change", "code"), [
    ("wrong-secret", "InvalidSignatureException"),
    ("no-signature", "MissingAuthenticationTokenException"),
    ("tampered-body", "InvalidSignatureException"),
    ("unknown-key", "UnrecognizedClientException"),
])
async def test_the_runtime_refuses_a_bad_signature(sigv4_runtime, change, code):
    spec = target_spec(sigv4_runtime.url,
                       secret="not-the-secret" if change == "wrong-secret" else SECRET_KEY)
    if change == "unknown-key":
        spec["credentials"]["access_key"] = "AKIAUNKNOWNKEY000000"
    prepared = prepare(SageMakerTarget(spec), time.time())
    if change == "no-signature":
        prepared.headers.pop("Authorization")
    if change == "tampered-body":
        prepared = type(prepared)(prepared.method, prepared.url, prepared.headers, b"6,3,1,0")
    status, headers, body = await send(sigv4_runtime.url, prepared)
    outcome = SageMakerTarget(spec).classify(status, headers, body)
    assert status == 403 and sigv4_runtime.accepted == 0
    assert (outcome.kind, outcome.code) == ("4xx", code)


def test_signatures_are_reused_within_a_second_only():
    target = SageMakerTarget(target_spec("https://runtime.example.test"))
    first = prepare(target, 1_700_000_000.1)
    again = prepare(target, 1_700_000_000.9)
    other_row = prepare(target, 1_700_000_000.9, request_id=1, body=b"6,3,1,0")
    next_second = prepare(target, 1_700_000_001.0)
    assert again.headers is first.headers
    assert other_row.headers["Authorization"] != first.headers["Authorization"]
    assert next_second.headers["X-Amz-Date"] == "20231114T221321Z"
    assert next_second.headers["Authorization"] != first.headers["Authorization"]
    assert (target.signatures, target.reused) == (3, 1)


def test_a_different_body_under_the_same_id_is_signed_again():
    target = SageMakerTarget(target_spec("https://runtime.example.test"))
    first = prepare(target, 1_700_000_000.1, body=b"1,2,3,4")
    second = prepare(target, 1_700_000_000.2, body=b"4,3,2,1")
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert target.reused == 0


def test_profile_content_type_is_used_unless_the_sagemaker_section_names_one():
    plain = SageMakerTarget(target_spec("https://r.example.test"))
    named = SageMakerTarget(target_spec("https://r.example.test", content_type="application/x"))
    assert prepare(plain, 1.0).headers["Content-Type"] == "text/csv"
    assert prepare(named, 1.0).headers["Content-Type"] == "application/x"
    assert "content-type" not in prepare(named, 1.0).headers


def _error(code: str | None, message: str = "boom", body: dict | None = None):
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"} if code else {}
    return headers, json.dumps(body or {"message": message}).encode()


@pytest.mark.parametrize(("status", "code", "body", "kind", "kept"), [
    (424, "ModelError", {"ErrorCode": "CLIENT_ERROR_FROM_MODEL", "OriginalStatusCode": 500,
                         "message": "Received server error (500) from primary"},
     "4xx", "ModelError"),
    (424, None, {"ErrorCode": "CLIENT_ERROR_FROM_MODEL", "message": "container timed out"},
     "4xx", "ModelError"),
    (400, "ValidationError", None, "4xx", "ValidationError"),
    (400, None, None, "4xx", "ValidationError"),
    (500, "InternalFailure", None, "5xx", "InternalFailure"),
    (500, None, None, "5xx", "InternalFailure"),
    (503, "ServiceUnavailable", None, "5xx", "ServiceUnavailable"),
    (400, "ThrottlingException", None, "throttled", "ThrottlingException"),
    (429, None, None, "throttled", "ThrottlingException"),
    (429, "ModelNotReadyException", None, "4xx", "ModelNotReadyException"),
    (403, "ExpiredTokenException", None, "4xx", "ExpiredTokenException"),
    (502, None, None, "5xx", "HTTP 502"),
])
def test_error_bodies_map_to_outcomes_keeping_the_code(status, code, body, kind, kept):
    target = SageMakerTarget(target_spec("https://r.example.test"))
    headers, raw = _error(code, body=body)
    outcome = target.classify(status, headers, raw)
    assert (outcome.kind, outcome.code) == (kind, kept)
    assert outcome.message


def test_success_is_ok():
    target = SageMakerTarget(target_spec("https://r.example.test"))
    assert target.classify(200, {}, b"setosa").kind == "ok"


SIGNED_PROFILE = sagemaker_profile("    - {duration: 2, arrivalRate: 25, name: steady}")


async def test_a_worker_sends_signed_requests_the_runtime_accepts(sigv4_runtime,
                                                                  write_profile):
    profile = load_profile(write_profile(SIGNED_PROFILE))
    session = Session(profile, target_spec(sigv4_runtime.url), target_label="signed")
    result = await session.run()
    total = result.summary["total"]
    assert result.reason == "completed"
    assert total["requests"] == 50 and total["ok"] == 50
    assert sigv4_runtime.accepted == 50 and not sigv4_runtime.rejected
    # One payload row: within a second every request carries the same signature.
    dates = {h["X-Amz-Date"] for h in sigv4_runtime.seen}
    signatures = {h["Authorization"] for h in sigv4_runtime.seen}
    assert len(signatures) == len(dates) < 50


async def test_a_worker_with_wrong_credentials_records_the_aws_code(sigv4_runtime,
                                                                    write_profile):
    profile = load_profile(write_profile(SIGNED_PROFILE))
    records: list = []
    session = Session(profile, target_spec(sigv4_runtime.url, secret="wrong"),
                      target_label="signed")
    session.subscribe(records.append)
    result = await session.run()
    errors: dict[str, int] = {}
    for tick in (r for r in records if isinstance(r, Tick)):
        for code, n in tick.errors.items():
            errors[code] = errors.get(code, 0) + n
    assert errors == {"InvalidSignatureException": 50}
    assert result.summary["total"]["ok"] == 0
    assert sigv4_runtime.accepted == 0

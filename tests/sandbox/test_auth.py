"""SigV4 on every API, the AWS error codes for bad signatures, and unknown operations."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from sandbox.server import SandboxThread
from tests.sandbox.conftest import MovableClock, client, cloudwatch_session

BLOG_ROW = b"5,3.5,1.3,0.3"


def send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def signed(sandbox: SandboxThread, path: str, body: bytes, headers: dict[str, str],
           service: str = "sagemaker") -> dict[str, str]:
    """Headers of a request signed like botocore signs it."""
    request = AWSRequest(method="POST", url=sandbox.endpoint_url + path, data=body,
                         headers=headers)
    credentials = Credentials(sandbox.credentials.access_key_id,
                              sandbox.credentials.secret_access_key)
    SigV4Auth(credentials, service, sandbox.region).add_auth(request)
    return dict(request.headers.items())


def call_each_api(sandbox: SandboxThread, tmp_path: Path,
                  **credentials: str) -> dict[str, Callable[[], Any]]:
    runtime = client(sandbox, "sagemaker-runtime", **credentials)
    sagemaker = client(sandbox, "sagemaker", **credentials)
    scaling = client(sandbox, "application-autoscaling", **credentials)
    metrics = {protocol: client(sandbox, "cloudwatch",
                                session=cloudwatch_session(tmp_path, protocol), **credentials)
               for protocol in ("json", "smithy-rpc-v2-cbor")}
    return {
        "runtime": lambda: runtime.invoke_endpoint(EndpointName=sandbox.endpoint_name,
                                                   Body=BLOG_ROW, ContentType="text/csv"),
        "sagemaker": lambda: sagemaker.list_endpoints(),
        "application-autoscaling": lambda: scaling.describe_scalable_targets(
            ServiceNamespace="sagemaker"),
        "cloudwatch-json": lambda: metrics["json"].list_metrics(),
        "cloudwatch-cbor": lambda: metrics["smithy-rpc-v2-cbor"].list_metrics(),
    }


def failure(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


APIS = ["runtime", "sagemaker", "application-autoscaling", "cloudwatch-json", "cloudwatch-cbor"]


@pytest.mark.parametrize("api", APIS)
def test_the_right_credentials_work(sandbox: SandboxThread, tmp_path: Path, api: str) -> None:
    call_each_api(sandbox, tmp_path)[api]()


@pytest.mark.parametrize("api", APIS)
def test_a_wrong_secret_is_an_invalid_signature(sandbox: SandboxThread, tmp_path: Path,
                                                api: str) -> None:
    calls = call_each_api(sandbox, tmp_path, aws_secret_access_key="not-the-sandbox-secret")
    code, status, message = failure(calls[api])
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("The request signature we calculated does not match")


@pytest.mark.parametrize("api", APIS)
def test_an_unknown_key_is_unrecognized(sandbox: SandboxThread, tmp_path: Path,
                                        api: str) -> None:
    calls = call_each_api(sandbox, tmp_path, aws_access_key_id="AKIAUNKNOWNKEY000000")
    assert failure(calls[api])[:2] == ("UnrecognizedClientException", 403)


def test_a_request_for_another_region_is_refused(sandbox: SandboxThread) -> None:
    sagemaker = client(sandbox, "sagemaker", region_name="eu-west-1")
    code, status, message = failure(sagemaker.list_endpoints)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "region" in message


def test_an_old_signature_has_expired(sandbox: SandboxThread, clock: MovableClock) -> None:
    clock.advance(400)  # the sandbox's clock is now 400 s ahead of the client's
    code, status, message = failure(client(sandbox, "sagemaker").list_endpoints)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "Signature expired" in message


def test_missing_signature_in_each_protocol(sandbox: SandboxThread) -> None:
    status, headers, body = send(
        sandbox.endpoint_url + "/endpoints/loadwatch-sandbox/invocations", BLOG_ROW,
        {"Content-Type": "text/csv"})
    assert status == 403
    assert headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")
    status, _, body = send(sandbox.endpoint_url + "/", b"{}", {
        "X-Amz-Target": "SageMaker.ListEndpoints",
        "Content-Type": "application/x-amz-json-1.1"})
    assert status == 403
    assert json.loads(body)["__type"].endswith("#MissingAuthenticationTokenException")


def test_a_changed_body_breaks_the_signature_even_when_cached(sandbox: SandboxThread) -> None:
    path = "/endpoints/loadwatch-sandbox/invocations"
    headers = signed(sandbox, path, BLOG_ROW, {"Content-Type": "text/csv"})
    url = sandbox.endpoint_url + path
    for _ in range(3):
        status, _, body = send(url, BLOG_ROW, headers)
        assert (status, body) == (200, b"setosa\n")
    verifier = sandbox.server.verifier
    # Identical requests within a second are verified once; a clock tick may split them.
    assert verifier.cache_hits >= 1
    status, response_headers, _ = send(url, b"6.3,3.3,6.0,2.5", headers)
    assert status == 403
    assert response_headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:")


def test_a_signature_for_another_service_is_refused(sandbox: SandboxThread) -> None:
    path = "/endpoints/loadwatch-sandbox/invocations"
    headers = signed(sandbox, path, BLOG_ROW, {"Content-Type": "text/csv"}, service="monitoring")
    status, response_headers, _ = send(sandbox.endpoint_url + path, BLOG_ROW, headers)
    assert status == 403
    assert response_headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:")


def test_operations_the_sandbox_lacks(sandbox: SandboxThread, tmp_path: Path) -> None:
    sagemaker = client(sandbox, "sagemaker")
    code, status, _ = failure(lambda: sagemaker.delete_endpoint(EndpointName="x"))
    assert (code, status) == ("UnknownOperationException", 400)
    scaling = client(sandbox, "application-autoscaling")
    code, status, _ = failure(lambda: scaling.describe_scheduled_actions(
        ServiceNamespace="sagemaker"))
    assert (code, status) == ("UnknownOperationException", 400)
    for protocol in ("json", "smithy-rpc-v2-cbor"):
        cloudwatch = client(sandbox, "cloudwatch", session=cloudwatch_session(tmp_path, protocol))
        # CloudWatch is query-compatible: botocore reports the query protocol's code.
        code, status, _ = failure(lambda cw=cloudwatch: cw.describe_alarm_history())
        assert (code, status) == ("InvalidAction", 400)


def test_unknown_targets_and_paths(sandbox: SandboxThread) -> None:
    headers = signed(sandbox, "/", b"{}", {"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                           "Content-Type": "application/x-amz-json-1.0"})
    status, _, body = send(sandbox.endpoint_url + "/", b"{}", headers)
    assert status == 400
    assert json.loads(body)["__type"].endswith("#UnknownOperationException")
    status, _, body = send(sandbox.endpoint_url + "/no/such/path", b"", {})
    assert status == 404
    assert json.loads(body)["__type"].endswith("#UnknownOperationException")


def test_a_malformed_body_is_a_serialization_error(sandbox: SandboxThread) -> None:
    headers = signed(sandbox, "/", b"{not json", {
        "X-Amz-Target": "SageMaker.ListEndpoints",
        "Content-Type": "application/x-amz-json-1.1"})
    status, _, body = send(sandbox.endpoint_url + "/", b"{not json", headers)
    assert status == 400
    assert json.loads(body)["__type"].endswith("#SerializationException")

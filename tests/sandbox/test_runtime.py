"""InvokeEndpoint through a real boto3 sagemaker-runtime client, and what it counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from sandbox.server import SandboxThread
from tests.sandbox.conftest import MovableClock, client, metric_value, step

BLOG_ROW = b"5,3.5,1.3,0.3"


def invoke(runtime: object, body: bytes, **extra: str) -> dict:
    return runtime.invoke_endpoint(EndpointName="loadwatch-sandbox", Body=body,  # type: ignore[attr-defined]
                                   ContentType=extra.pop("ContentType", "text/csv"), **extra)


def error_of(call: Callable[[], object]) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def test_predictions_one_and_many_rows(sandbox: SandboxThread) -> None:
    runtime = client(sandbox, "sagemaker-runtime")
    response = invoke(runtime, BLOG_ROW)
    assert response["Body"].read() == b"setosa\n"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["ContentType"].startswith("text/csv")
    rows = b"5.1,3.5,1.4,0.2\n6.4,3.2,4.5,1.5\n6.3,3.3,6.0,2.5\n"
    assert invoke(runtime, rows)["Body"].read() == b"setosa\nversicolor\nvirginica\n"


def test_bad_payload_is_a_model_error_counted_as_4xx(sandbox: SandboxThread,
                                                     clock: MovableClock) -> None:
    runtime = client(sandbox, "sagemaker-runtime")
    error = error_of(lambda: invoke(runtime, b"5,3.5,oops,0.3"))
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error.response["OriginalStatusCode"] == 400
    assert "not a number" in error.response["OriginalMessage"]
    assert "Received client error (400) from primary" in error.response["Error"]["Message"]
    for _ in range(3):
        invoke(runtime, BLOG_ROW)
    step(sandbox, clock, 2.0)
    cloudwatch = client(sandbox, "cloudwatch")
    assert metric_value(cloudwatch, sandbox, "Invocations") == 4
    assert metric_value(cloudwatch, sandbox, "Invocation4XXErrors") == 1
    assert metric_value(cloudwatch, sandbox, "Invocation4XXErrors", "Average") == 0.25
    assert metric_value(cloudwatch, sandbox, "InvocationModelErrors") == 1
    assert metric_value(cloudwatch, sandbox, "Invocation5XXErrors") == 0


def test_json_is_an_unsupported_media_type(sandbox: SandboxThread) -> None:
    runtime = client(sandbox, "sagemaker-runtime")
    error = error_of(lambda: invoke(runtime, b"[1,2,3,4]", ContentType="application/json"))
    assert error.response["Error"]["Code"] == "ModelError"
    assert error.response["OriginalStatusCode"] == 415


def test_unknown_endpoint_and_variant(sandbox: SandboxThread) -> None:
    runtime = client(sandbox, "sagemaker-runtime")
    error = error_of(lambda: runtime.invoke_endpoint(EndpointName="nope", Body=BLOG_ROW,
                                                     ContentType="text/csv"))
    assert error.response["Error"] == {
        "Code": "ValidationError",
        "Message": "Endpoint nope of account 123456789012 not found."}
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    error = error_of(lambda: invoke(runtime, BLOG_ROW, TargetVariant="Other"))
    assert error.response["Error"]["Code"] == "ValidationError"
    assert invoke(runtime, BLOG_ROW, TargetVariant="AllTraffic")["Body"].read() == b"setosa\n"


def test_injected_internal_failures_count_as_5xx(start_sandbox: Callable[..., SandboxThread],
                                                 clock: MovableClock) -> None:
    sandbox = start_sandbox(internal_failure_rate=1.0)
    runtime = client(sandbox, "sagemaker-runtime")
    error = error_of(lambda: invoke(runtime, BLOG_ROW))
    assert error.response["Error"]["Code"] == "InternalFailure"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    step(sandbox, clock, 2.0)
    cloudwatch = client(sandbox, "cloudwatch")
    assert metric_value(cloudwatch, sandbox, "Invocation5XXErrors") == 1


def test_throttling_above_the_configured_rate(start_sandbox: Callable[..., SandboxThread],
                                              clock: MovableClock) -> None:
    sandbox = start_sandbox(throttle_rps=2.0)
    runtime = client(sandbox, "sagemaker-runtime")
    codes = []
    for _ in range(6):  # far faster than 2 per second
        try:
            invoke(runtime, BLOG_ROW)
            codes.append("ok")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert codes[:2] == ["ok", "ok"]
    assert "ThrottlingException" in codes
    step(sandbox, clock, 2.0)
    # Throttled requests never reach the endpoint, so they are not invocations.
    cloudwatch = client(sandbox, "cloudwatch")
    assert metric_value(cloudwatch, sandbox, "Invocations") == codes.count("ok")


@pytest.mark.parametrize("megabytes", [6.5, 8])
def test_payloads_over_six_megabytes_are_refused(sandbox: SandboxThread,
                                                 megabytes: float) -> None:
    runtime = client(sandbox, "sagemaker-runtime")
    body = b"5,3.5,1.3,0.3\n" * int(megabytes * 2**20 / 14)
    error = error_of(lambda: invoke(runtime, body))
    assert error.response["Error"]["Code"] == "ValidationError"
    assert "6 MB" in error.response["Error"]["Message"]

"""The client factory: where settings come from, and how AWS failures read."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from driver.aws.clients import (
    AwsClients,
    AwsError,
    AwsSettings,
    FrozenCredentials,
    as_aws_error,
    call,
)
from driver.profile import SageMakerOptions
from tests.aws.conftest import REGION


def test_the_command_line_wins_over_the_profile():
    profile = SageMakerOptions(endpoint="e", region="eu-west-1", aws_profile="team",
                               endpoint_url="http://profile.example")
    assert AwsSettings.resolve(profile) == AwsSettings("eu-west-1", "team",
                                                       "http://profile.example")
    chosen = AwsSettings.resolve(profile, region="us-west-2", aws_profile="me",
                                 endpoint_url="http://cli.example")
    assert (chosen.region, chosen.aws_profile, chosen.endpoint_url) == (
        "us-west-2", "me", "http://cli.example")


def test_aws_endpoint_url_variables_are_honoured(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9001")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9002")
    clients = AwsClients(AwsSettings(region=REGION))
    assert clients.runtime_url() == "http://127.0.0.1:9002"
    assert clients.client("cloudwatch").meta.endpoint_url == "http://127.0.0.1:9001"
    explicit = AwsClients(AwsSettings(region=REGION, endpoint_url="http://127.0.0.1:9003"))
    assert explicit.runtime_url() == "http://127.0.0.1:9003"


def test_default_endpoints_are_aws(aws_env):
    clients = AwsClients(AwsSettings(region="eu-west-1"))
    assert clients.runtime_url() == "https://runtime.sagemaker.eu-west-1.amazonaws.com"
    assert clients.client("sagemaker") is clients.client("sagemaker")


def test_explicit_keys_ignore_a_stale_aws_profile(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "long-gone")
    keys = FrozenCredentials("AKIASANDBOXLOADWATCH", "sandbox-secret")
    clients = AwsClients(AwsSettings(region=REGION, credentials=keys))
    assert clients.frozen_credentials().access_key == "AKIASANDBOXLOADWATCH"
    assert clients.client("sagemaker").meta.region_name == REGION
    with pytest.raises(AwsError) as caught:
        AwsClients(AwsSettings(region=REGION)).client("sagemaker")
    assert caught.value.code == "ProfileNotFound"


def test_no_region_is_one_clear_error(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(AwsError) as caught:
        AwsClients(AwsSettings()).client("sagemaker")
    assert caught.value.code == "NoRegion"
    assert "pass --region" in str(caught.value)


def test_credentials_never_show_in_repr():
    keys = FrozenCredentials("AKIAEXAMPLE", "very-secret-key", "session-token")
    settings = AwsSettings(credentials=keys)
    assert "very-secret-key" not in repr(settings) and "session-token" not in repr(keys)
    assert keys.secrets == {"very-secret-key", "session-token"}


def _client_error(code: str, message: str = "nope", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "DescribeEndpoint")


@pytest.mark.parametrize(("raised", "code", "text"), [
    (_client_error("ExpiredTokenException"), "ExpiredTokenException",
     "the AWS credentials have expired"),
    (_client_error("ExpiredToken"), "ExpiredToken", "the AWS credentials have expired"),
    (_client_error("UnrecognizedClientException"), "UnrecognizedClientException",
     "AWS does not recognise the access key"),
    (_client_error("AccessDeniedException", "User x is not authorized\nto perform"),
     "AccessDeniedException", "User x is not authorized to perform"),
    (_client_error("ThrottlingException", "Rate exceeded"), "ThrottlingException",
     "Rate exceeded"),
    (NoCredentialsError(), "NoCredentials", "no AWS credentials found"),
    (NoRegionError(), "NoRegion", "no AWS region"),
    (ProfileNotFound(profile="x"), "ProfileNotFound", "could not be found"),
    (EndpointConnectionError(endpoint_url="https://x"), "EndpointConnection",
     "Could not connect"),
])
def test_failures_keep_the_aws_code_in_one_line(raised, code, text):
    error = as_aws_error(raised, "describing endpoint e")
    assert error.code == code
    assert str(error).startswith("describing endpoint e: ")
    assert text in str(error) and str(error).endswith(f"({code})")
    assert "\n" not in str(error)
    assert error.throttled == (code == "ThrottlingException")


def test_call_converts_and_chains():
    def fail() -> None:
        raise _client_error("ValidationException", "Could not find endpoint")

    with pytest.raises(AwsError) as caught:
        call("describing endpoint e", fail)
    assert caught.value.code == "ValidationException"
    assert isinstance(caught.value.__cause__, ClientError)

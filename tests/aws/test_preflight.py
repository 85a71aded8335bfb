"""Pre-flight: a SageMaker run is checked before any load, and fails in one clear line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import boto3
import pytest
from aiohttp import web
from botocore.stub import Stubber

from driver.aws import AwsClients, AwsSettings
from driver.profile import load_profile
from driver.session import RunOptions, SetupError, prepare_run
from tests.aws.conftest import ENDPOINT, REGION, VARIANT, make_endpoint, sagemaker_profile
from tests.servers.loopback import serving

ROOT = Path(__file__).resolve().parents[2]
PROFILE = sagemaker_profile("    - {duration: 1, arrivalRate: 5, name: warm up}",
                            sections=f"  region: {REGION}\nscaling: {{min: 1, max: 4, "
                                     "target: 25000}")


async def test_a_ready_endpoint_prepares_a_signed_run(moto_aws, write_profile):
    make_endpoint(instances=2)
    prepared = await prepare_run(load_profile(write_profile(PROFILE)), RunOptions())
    spec = prepared.session.target
    assert spec["kind"] == "sagemaker" and spec["endpoint"] == ENDPOINT
    assert spec["runtime_url"] == f"https://runtime.sagemaker.{REGION}.amazonaws.com"
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]  # moto's, inside mock_aws
    assert spec["credentials"]["secret_key"] == secret
    assert secret in prepared.session.secrets  # redacted should it ever reach a recording
    assert prepared.target_label == f"sagemaker:{ENDPOINT}/{VARIANT} ({REGION})"
    assert prepared.scaling is not None and prepared.scaling.state.mode == "none"
    notes = "\n".join(prepared.notes)
    assert "2 x ml.m4.xlarge, InService" in notes
    assert ("CloudWatch: 12 metrics every 60 s (60 s periods; ConcurrentRequestsPerModel "
            "10 s)") in notes
    assert "about $0.0072/hour" in notes
    assert "scaling: before this run, no scaling" in notes and "restored at exit" in notes
    header_meta = prepared.session._header().meta  # what the recording will say
    assert secret not in json.dumps(header_meta)
    assert header_meta["aws"]["instance_type"] == "ml.m4.xlarge"


async def test_an_unknown_endpoint_stops_the_run(moto_aws, write_profile):
    with pytest.raises(SetupError) as caught:
        await prepare_run(load_profile(write_profile(PROFILE)), RunOptions())
    assert str(caught.value) == (f"SageMaker endpoint '{ENDPOINT}' not found (wrong name or "
                                 "region?) (ValidationException)")
    assert caught.value.code == "ValidationException"


async def test_an_unknown_variant_stops_the_run(moto_aws, write_profile):
    make_endpoint(variant="Blue")
    with pytest.raises(SetupError, match=r"has no variant 'AllTraffic' \(it has Blue\)"):
        await prepare_run(load_profile(write_profile(PROFILE)), RunOptions())


@pytest.mark.parametrize("status", ["Creating", "Updating", "Failed", "OutOfService"])
async def test_an_endpoint_not_in_service_stops_the_run(aws_env, write_profile, status):
    clients = AwsClients(AwsSettings(region=REGION))
    sm = boto3.client("sagemaker", region_name=REGION)
    clients.inject("sagemaker", sm)
    described = {"EndpointName": ENDPOINT,
                 "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}",
                 "EndpointStatus": status, "CreationTime": 0, "LastModifiedTime": 0}
    if status == "Failed":
        described["FailureReason"] = "The primary container did not pass the ping health check"
    with Stubber(sm) as stub:
        stub.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT})
        with pytest.raises(SetupError) as caught:
            await prepare_run(load_profile(write_profile(PROFILE)),
                              RunOptions(aws_clients=clients))
    message = str(caught.value)
    assert message.startswith(f"endpoint {ENDPOINT} is {status}, not InService")
    assert message.endswith(f"(EndpointStatus={status})") and "\n" not in message
    if status == "Failed":
        assert "ping health check" in message


class AwsSaysNo:
    """A real HTTP server that answers every AWS call with one error, counting the calls."""

    def __init__(self, code: str, status: int = 400) -> None:
        self.code, self.status, self.calls = code, status, 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        await request.read()
        return web.json_response({"__type": self.code, "message": "The security token "
                                  "included in the request is expired"}, status=self.status,
                                 headers={"x-amzn-ErrorType": self.code})


@pytest.fixture
async def aws_says_no():
    async with contextlib.AsyncExitStack() as servers:

        async def start(code: str, status: int = 400) -> tuple[AwsSaysNo, str]:
            server = AwsSaysNo(code, status)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", server.handle)
            return server, await servers.enter_async_context(serving(app))

        yield start


@pytest.mark.parametrize(("code", "says"), [
    ("ExpiredTokenException", "the AWS credentials have expired"),
    ("UnrecognizedClientException", "AWS does not recognise the access key"),
    ("InvalidSignatureException", "the AWS secret key does not match the access key"),
    ("AccessDeniedException", "The security token included in the request is expired"),
])
async def test_credentials_aws_refuses_stop_the_run(aws_env, write_profile, aws_says_no,
                                                    code, says):
    server, url = await aws_says_no(code)
    with pytest.raises(SetupError) as caught:
        await prepare_run(load_profile(write_profile(PROFILE)), RunOptions(endpoint_url=url))
    message = str(caught.value)
    assert message.startswith(f"describing endpoint {ENDPOINT}: {says}")
    assert message.endswith(f"({code})")
    assert server.calls == 1


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def test_no_credentials_exits_2_in_one_line_and_sends_nothing(write_profile, tmp_path,
                                                                    aws_says_no):
    server, url = await aws_says_no("ShouldNeverBeCalled")
    profile = write_profile(PROFILE)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": str(tmp_path),
           "AWS_CONFIG_FILE": str(tmp_path / "nowhere" / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "nowhere" / "credentials")}
    code, out, err = await run_cli("run", "--headless", "--no-record", str(profile),
                                   "--endpoint-url", url, env=env)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("loadwatch: finding AWS credentials: no AWS credentials found")
    assert lines[0].endswith("(NoCredentials)")
    assert server.calls == 0
    assert "Traceback" not in out + err

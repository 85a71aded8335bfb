"""AWS fixtures: moto for the control plane, a SigV4-checking runtime, a clean AWS environment.

No fixture here reaches the network: moto patches botocore in this process, and the runtime
stand-in is a real aiohttp server on 127.0.0.1 port 0 that recomputes each request's
signature with botocore and refuses a wrong or missing one, as SageMaker does.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from driver.aws import AwsClients, AwsSettings, FrozenCredentials
from tests.servers.loopback import serving

ACCESS_KEY = "AKIALOADWATCHTEST01"
SECRET_KEY = "loadwatch-test-secret-key-0123456789abcd"
REGION = "us-east-1"
ENDPOINT = "blog-endpoint"
VARIANT = "AllTraffic"
RESOURCE = f"endpoint/{ENDPOINT}/variant/{VARIANT}"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Test credentials in the environment and nothing else: no profile, no shared files."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto_aws(aws_env) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


def make_endpoint(name: str = ENDPOINT, variant: str = VARIANT, instances: int = 1,
                  instance_type: str = "ml.m4.xlarge") -> None:
    """A model, endpoint config and endpoint in moto (InService at once)."""
    sm = boto3.client("sagemaker", region_name=REGION)
    sm.create_model(ModelName=f"{name}-model",
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
                                               "decision-trees:latest"})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": variant, "ModelName": f"{name}-model",
        "InitialInstanceCount": instances, "InstanceType": instance_type}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def register_scaling(min_capacity: int = 1, max_capacity: int = 2, target: float = 20000.0,
                     policy: str = "users-policy", suspended: bool = False) -> None:
    """The user's own scaling, as it might be before loadwatch runs."""
    aas = boto3.client("application-autoscaling", region_name=REGION)
    aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIMENSION,
        MinCapacity=min_capacity, MaxCapacity=max_capacity,
        SuspendedState={"DynamicScalingInSuspended": suspended,
                        "DynamicScalingOutSuspended": suspended,
                        "ScheduledScalingSuspended": False})
    aas.put_scaling_policy(
        PolicyName=policy, ServiceNamespace="sagemaker", ResourceId=RESOURCE,
        ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": target,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 600, "ScaleOutCooldown": 120})


@pytest.fixture
def clients(aws_env) -> AwsClients:
    return AwsClients(AwsSettings(region=REGION))


@dataclass
class SigV4Runtime:
    """A SageMaker runtime stand-in that checks every signature with botocore."""

    url: str = ""
    secrets: dict[str, str] = field(default_factory=lambda: {ACCESS_KEY: SECRET_KEY})
    region: str = REGION
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)  # headers of accepted requests
    bodies: list[bytes] = field(default_factory=list)
    status: int = 200  # what accepted requests get
    error_code: str | None = None  # with status >= 400: the x-amzn-ErrorType to send

    def _refuse(self, status: int, code: str, message: str) -> web.Response:
        self.rejected[code] = self.rejected.get(code, 0) + 1
        return web.Response(status=status, headers={"x-amzn-ErrorType": f"{code}:"},
                            body=json.dumps({"message": message}).encode(),
                            content_type="application/json")

    def check(self, method: str, url: str, headers: dict[str, str],
              body: bytes) -> tuple[str, str] | None:
        """None if the request is signed right, else (error code, message)."""
        auth = headers.get("Authorization") or headers.get("authorization")
        if not auth:
            return "MissingAuthenticationTokenException", "Missing Authentication Token"
        try:
            algorithm, rest = auth.split(" ", 1)
            parts = dict(p.strip().split("=", 1) for p in rest.split(","))
            access_key, day, region, service, terminator = parts["Credential"].split("/")
            signed = parts["SignedHeaders"].split(";")
            given = parts["Signature"]
        except ValueError:
            return "IncompleteSignatureException", "Authorization header is malformed"
        if algorithm != "AWS4-HMAC-SHA256" or terminator != "aws4_request":
            return "IncompleteSignatureException", "unsupported signing algorithm"
        if service != "sagemaker" or region != self.region:
            return "InvalidSignatureException", f"wrong scope {region}/{service}"
        if "host" not in signed or "x-amz-date" not in signed:
            return "InvalidSignatureException", "host and x-amz-date must be signed"
        secret = self.secrets.get(access_key)
        if secret is None:
            return "UnrecognizedClientException", "The security token included is invalid."
        lower = {k.lower(): v for k, v in headers.items()}
        stamp = lower.get("x-amz-date", "")
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "IncompleteSignatureException", "bad X-Amz-Date"
        if abs(when.timestamp() - time.time()) > 300 or stamp[:8] != day:
            return "InvalidSignatureException", "Signature expired"
        request = AWSRequest(method=method, url=url,
                             headers={h: lower.get(h, "") for h in signed}, data=body)
        request.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(access_key, secret, lower.get("x-amz-security-token")),
                           "sagemaker", region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request)
        if not hmac.compare_digest(expected, given):
            return "InvalidSignatureException", (
                "The request signature we calculated does not match the signature you "
                "provided.")
        return None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = self.check(request.method, str(request.url), dict(request.headers), body)
        if problem is not None:
            return self._refuse(403, *problem)
        self.accepted += 1
        if len(self.seen) < 10_000:
            self.seen.append(dict(request.headers))
            self.bodies.append(body)
        if self.status >= 400:
            return self._refuse(self.status, self.error_code or "InternalFailure", "refused")
        return web.Response(body=b"setosa\n", content_type="text/csv")


@pytest.fixture
async def sigv4_runtime() -> AsyncIterator[SigV4Runtime]:
    runtime = SigV4Runtime()
    app = web.Application()
    app.router.add_post("/endpoints/{name}/invocations", runtime.handle)
    async with serving(app) as runtime.url:
        yield runtime


def target_spec(runtime_url: str, secret: str = SECRET_KEY, **extra: object) -> dict:
    return {"kind": "sagemaker", "runtime_url": runtime_url, "region": REGION,
            "endpoint": ENDPOINT, "variant": VARIANT,
            "credentials": FrozenCredentials(ACCESS_KEY, secret).as_spec(), **extra}



def sagemaker_profile(phases: str, endpoint: str | None = ENDPOINT, sections: str = "") -> str:
    """A profile posting the blog's CSV row; ``phases`` and ``sections`` are YAML lines."""
    aim = f"sagemaker:\n  endpoint: {endpoint}\n" if endpoint else ""
    return (f"config:\n  phases:\n{phases}\n{aim}{sections}\n"
            "scenarios:\n  - flow:\n      - post:\n          body: \"5,3.5,1.3,0.3\"\n"
            "          headers: {content-type: text/csv}\n")

"""Against a real AWS account: skipped unless LOADWATCH_TEST_ENDPOINT names an endpoint.

    LOADWATCH_TEST_ENDPOINT=my-endpoint AWS_PROFILE=... pytest -m aws tests/aws

Read-only: pre-flight, one CloudWatch poll and one endpoint poll; scaling is read, never
changed. Credentials come from the standard chain, as for a run.
"""

from __future__ import annotations

import os

import pytest

from driver.aws import AwsClients, AwsError, AwsSettings
from driver.profile import parse_profile
from driver.session import RunOptions, prepare_run
from metrics.cloudwatch import CloudWatchPoller
from metrics.endpoint import EndpointPoller
from metrics.records import EndpointState

ENDPOINT = os.environ.get("LOADWATCH_TEST_ENDPOINT")
VARIANT = os.environ.get("LOADWATCH_TEST_VARIANT", "AllTraffic")

pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(not ENDPOINT, reason="set LOADWATCH_TEST_ENDPOINT (and AWS credentials) "
                                            "to run against a real SageMaker endpoint"),
]


@pytest.fixture(scope="module")
def clients() -> AwsClients:
    clients = AwsClients(AwsSettings())
    try:
        clients.frozen_credentials()
    except AwsError as exc:
        pytest.skip(f"no usable AWS credentials: {exc}")
    return clients


async def test_preflight_passes_on_a_real_endpoint(clients):
    profile = parse_profile(f"""
config:
  phases: [{{duration: 1, arrivalRate: 1}}]
sagemaker: {{endpoint: {ENDPOINT}, variant: {VARIANT}}}
scenarios: [{{flow: [{{post: {{body: "5,3.5,1.3,0.3"}}}}]}}]
""")
    prepared = await prepare_run(profile, RunOptions(aws_clients=clients))
    assert prepared.session.target["runtime_url"].startswith("https://runtime.sagemaker.")
    assert prepared.scaling is not None


async def test_one_poll_of_each_kind(clients):
    records: list = []
    await CloudWatchPoller(clients.client("cloudwatch"), ENDPOINT, VARIANT,
                           records.append).poll()
    await EndpointPoller(clients.client("sagemaker"), clients.client("application-autoscaling"),
                         ENDPOINT, VARIANT, records.append).poll()
    assert any(isinstance(r, EndpointState) and r.status == "InService" for r in records)

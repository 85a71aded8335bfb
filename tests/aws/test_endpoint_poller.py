"""The endpoint poller: instance counts, the scaling policy in force, scaling activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber

from metrics.endpoint import (
    DIMENSION,
    EndpointPoller,
    ScalingConfig,
    read_scaling_config,
)
from metrics.records import EndpointState, Event, ScalingActivity
from tests.aws.conftest import ENDPOINT, REGION, RESOURCE, VARIANT, make_endpoint, register_scaling

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{ENDPOINT}"


def new_poller(records, autoscaling=None, **kwargs) -> EndpointPoller:
    sm = boto3.client("sagemaker", region_name=REGION)
    aas = autoscaling or boto3.client("application-autoscaling", region_name=REGION)
    return EndpointPoller(sm, aas, ENDPOINT, VARIANT, records.append, **kwargs)


async def test_endpoint_state_and_policy_from_moto(moto_aws):
    make_endpoint(instances=2)
    register_scaling(min_capacity=2, max_capacity=6, target=20000)
    records: list = []
    seen: list[ScalingConfig] = []
    aas = boto3.client("application-autoscaling", region_name=REGION)
    answer_activities(aas, [])
    p = new_poller(records, autoscaling=aas, on_scaling=seen.append, elapsed=lambda: 12.5)
    await p.poll()
    await p.poll()
    states = [r for r in records if isinstance(r, EndpointState)]
    assert len(states) == 2
    assert states[0].status == "InService" and states[0].elapsed == 12.5
    assert states[0].variants == [{"name": VARIANT, "current": 2, "desired": 2,
                                   "instance_type": "ml.m4.xlarge"}]
    policy_events = [r for r in records if isinstance(r, Event) and r.name == "policy_in_force"]
    assert len(policy_events) == 1  # unchanged the second time
    assert policy_events[0].source == "scaling"
    assert policy_events[0].data["mode"] == "enabled"
    assert "target tracking 20000/instance/min, 2-6 instances, enabled" in \
        policy_events[0].message
    assert len(seen) == 2 and seen[0].min == 2 and seen[0].target_value == 20000


def answer_activities(client, activities: list[dict]) -> None:
    """moto has no DescribeScalingActivities: answer that one operation, let moto do the rest."""

    def answer(**_):
        return AWSResponse("https://moto.test", 200, {}, None), {"ScalingActivities": activities}

    client.meta.events.register(
        "before-call.application-auto-scaling.DescribeScalingActivities", answer)


def activity(activity_id: str, start: datetime, status: str, end: datetime | None = None,
             message: str = "") -> dict:
    out = {"ActivityId": activity_id, "ServiceNamespace": "sagemaker", "ResourceId": RESOURCE,
           "ScalableDimension": DIMENSION,
           "Description": "Setting desired instance count to 3.",
           "Cause": "monitor alarm TargetTracking-AlarmHigh in state ALARM triggered policy p",
           "StartTime": start, "StatusCode": status}
    if end is not None:
        out["EndTime"] = end
    if message:
        out["StatusMessage"] = message
    return out


async def test_a_poll_emits_the_activities_before_the_state_they_led_to(moto_aws):
    """A poll that first sees a scale-out both as an activity and in the instance count (a
    slow poll, a quick scale-out) says the cause first: a cold start closed on the state
    would otherwise miss its alarm (seen once in CI: "alarm not seen")."""
    make_endpoint(instances=3)
    register_scaling(min_capacity=1, max_capacity=6, target=20000)
    aas = boto3.client("application-autoscaling", region_name=REGION)
    answer_activities(aas, [activity("a1", START, "Successful", START + timedelta(seconds=40))])
    records: list = []
    await new_poller(records, autoscaling=aas).poll()
    kinds = [type(r).__name__ for r in records if isinstance(r, EndpointState | ScalingActivity)]
    assert kinds == ["ScalingActivity", "EndpointState"]


async def test_activities_are_emitted_when_new_and_when_changed(aws_env):
    sm = boto3.client("sagemaker", region_name=REGION)
    aas = boto3.client("application-autoscaling", region_name=REGION)
    records: list = []
    p = EndpointPoller(sm, aas, ENDPOINT, VARIANT, records.append,
                       since=START.timestamp())
    old = activity("old", START - timedelta(hours=2), "Successful",
                   START - timedelta(hours=2) + timedelta(minutes=5))
    running = activity("a1", START + timedelta(minutes=3), "InProgress")
    done = activity("a1", START + timedelta(minutes=3), "Successful",
                    START + timedelta(minutes=8), "Successfully set desired instance count to 3")
    pages = [[running, old], [running, old], [done, old]]
    endpoint = {"EndpointName": ENDPOINT, "EndpointArn": ENDPOINT_ARN, "EndpointConfigName": "c",
                "EndpointStatus": "Updating", "CreationTime": START,
                "LastModifiedTime": START, "ProductionVariants": [
                    {"VariantName": VARIANT, "CurrentInstanceCount": 1,
                     "DesiredInstanceCount": 3}]}
    config = {"EndpointConfigName": "c", "EndpointConfigArn": ENDPOINT_ARN + "-config",
              "CreationTime": START,
              "ProductionVariants": [{"VariantName": VARIANT, "ModelName": "m",
                                      "InstanceType": "ml.m4.xlarge"}]}
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub:
        sm_stub.add_response("describe_endpoint", endpoint, {"EndpointName": ENDPOINT})
        sm_stub.add_response("describe_endpoint_config", config, {"EndpointConfigName": "c"})
        for page in pages:
            if page is not pages[0]:
                sm_stub.add_response("describe_endpoint", endpoint)
            aas_stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
            aas_stub.add_response("describe_scaling_policies", {"ScalingPolicies": []})
            aas_stub.add_response("describe_scaling_activities", {"ScalingActivities": page},
                                  {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE,
                                   "ScalableDimension": DIMENSION,
                                       "IncludeNotScaledActivities": True})
        for _ in pages:
            await p.poll()
    activities = [r for r in records if isinstance(r, ScalingActivity)]
    assert [(a.activity_id, a.status) for a in activities] == [("a1", "InProgress"),
                                                               ("a1", "Successful")]
    assert activities[1].end == (START + timedelta(minutes=8)).timestamp()
    assert activities[1].status_message.startswith("Successfully set")
    states = [r for r in records if isinstance(r, EndpointState)]
    assert states[-1].variants[0] == {"name": VARIANT, "current": 1, "desired": 3,
                                      "instance_type": "ml.m4.xlarge"}
    # The endpoint config was described once, not on every poll.
    events = [r for r in records if isinstance(r, Event)]
    assert [e.data["mode"] for e in events] == ["none"]


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException"])
async def test_a_failing_part_is_reported_once_and_the_rest_still_polls(aws_env, code):
    sm = boto3.client("sagemaker", region_name=REGION)
    aas = boto3.client("application-autoscaling", region_name=REGION)
    records: list = []
    p = EndpointPoller(sm, aas, ENDPOINT, VARIANT, records.append)
    endpoint = {"EndpointName": ENDPOINT, "EndpointArn": ENDPOINT_ARN,
                "EndpointStatus": "InService",
                "CreationTime": START, "LastModifiedTime": START,
                "ProductionVariants": [{"VariantName": VARIANT, "CurrentInstanceCount": 1,
                                        "DesiredInstanceCount": 1}]}
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub:
        for _ in range(2):
            sm_stub.add_response("describe_endpoint", endpoint, {"EndpointName": ANY})
            aas_stub.add_client_error("describe_scalable_targets", service_error_code=code,
                                      http_status_code=400)
            aas_stub.add_response("describe_scaling_activities", {"ScalingActivities": []},
                                  {"ServiceNamespace": ANY, "ResourceId": ANY,
                                   "ScalableDimension": ANY,
                                   "IncludeNotScaledActivities": True})
        await p.poll()
        await p.poll()
    failures = [r for r in records if isinstance(r, Event) and r.name == "poll_failed"]
    assert len(failures) == 1 and failures[0].data == {"part": "scaling", "code": code}
    assert len([r for r in records if isinstance(r, EndpointState)]) == 2


async def test_activities_that_cannot_be_read_leave_the_policy_shown(aws_env):
    """A narrow IAM role may read the scaling policy but not DescribeScalingActivities."""
    sm = boto3.client("sagemaker", region_name=REGION)
    aas = boto3.client("application-autoscaling", region_name=REGION)
    records: list = []
    p = EndpointPoller(sm, aas, ENDPOINT, VARIANT, records.append)
    with Stubber(sm) as sm_stub, Stubber(aas) as aas_stub:
        sm_stub.add_client_error("describe_endpoint", "AccessDeniedException",
                                 http_status_code=400)
        aas_stub.add_response("describe_scalable_targets", {"ScalableTargets": []}, {
            "ServiceNamespace": ANY, "ResourceIds": ANY, "ScalableDimension": ANY})
        aas_stub.add_response("describe_scaling_policies", {"ScalingPolicies": []}, {
            "ServiceNamespace": ANY, "ResourceId": ANY, "ScalableDimension": ANY})
        aas_stub.add_client_error("describe_scaling_activities", "AccessDeniedException",
                                  "not authorized to perform DescribeScalingActivities", 400)
        await p.poll()
    events = [r for r in records if isinstance(r, Event)]
    assert [e.name for e in events].count("policy_in_force") == 1
    failed = {e.data["part"]: e.message for e in events if e.name == "poll_failed"}
    assert failed["activities"].startswith("activities poll failed (AccessDeniedException): "
                                           "not authorized")
    assert "scaling" not in failed


def test_scaling_config_reads_and_describes(moto_aws):
    make_endpoint()
    aas = boto3.client("application-autoscaling", region_name=REGION)
    assert read_scaling_config(aas, ENDPOINT, VARIANT).mode == "none"
    register_scaling(suspended=True)
    config = read_scaling_config(aas, ENDPOINT, VARIANT)
    assert config.mode == "suspended"
    assert config.describe() == "target tracking 20000/instance/min, 1-2 instances, suspended"
    assert ScalingConfig.from_dict(config.to_dict()) == config

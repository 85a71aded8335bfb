"""SageMaker and Application Auto Scaling through real boto3 clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.server import SandboxThread
from tests.sandbox.conftest import DIMENSION, RESOURCE_ID, MovableClock, client, step

TARGET = {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE_ID,
          "ScalableDimension": DIMENSION}
IPI_POLICY = {
    "TargetValue": 25000.0,
    "PredefinedMetricSpecification": {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    "ScaleInCooldown": 300,
    "ScaleOutCooldown": 60,
}


def code_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_describe_endpoint_and_its_config(sandbox: SandboxThread) -> None:
    sagemaker = client(sandbox, "sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="loadwatch-sandbox")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointArn"] == (
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/loadwatch-sandbox")
    [variant] = endpoint["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 1)
    config = sagemaker.describe_endpoint_config(
        EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m4.xlarge"
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 1
    assert code_of(lambda: sagemaker.describe_endpoint(EndpointName="other")) == (
        "ValidationException", 400)
    assert code_of(lambda: sagemaker.describe_endpoint_config(EndpointConfigName="other")) == (
        "ValidationException", 400)


def test_list_endpoints_filters(sandbox: SandboxThread) -> None:
    sagemaker = client(sandbox, "sagemaker")
    names = [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
    assert names == ["loadwatch-sandbox"]
    assert sagemaker.list_endpoints(NameContains="SANDBOX")["Endpoints"]
    assert sagemaker.list_endpoints(NameContains="blog")["Endpoints"] == []
    assert sagemaker.list_endpoints(StatusEquals="Updating")["Endpoints"] == []
    assert sagemaker.list_endpoints(CreationTimeBefore=0)["Endpoints"] == []
    pages = sagemaker.get_paginator("list_endpoints").paginate(PaginationConfig={"PageSize": 1})
    assert [e["EndpointName"] for page in pages for e in page["Endpoints"]] == names


def test_register_describe_and_suspend(sandbox: SandboxThread) -> None:
    scaling = client(sandbox, "application-autoscaling")
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")[
        "ScalableTargets"] == []
    assert code_of(lambda: scaling.register_scalable_target(**TARGET)) == (
        "ValidationException", 400)
    arn = scaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=4)[
        "ScalableTargetARN"]
    scaling.register_scalable_target(**TARGET, SuspendedState={
        "DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": True})
    [target] = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[RESOURCE_ID])["ScalableTargets"]
    assert target["ScalableTargetARN"] == arn
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    assert target["SuspendedState"] == {"DynamicScalingInSuspended": True,
                                        "DynamicScalingOutSuspended": True,
                                        "ScheduledScalingSuspended": False}
    # Other namespaces have no targets here; mutating them is refused.
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert code_of(lambda: scaling.register_scalable_target(
        ServiceNamespace="ecs", ResourceId="service/c/s", ScalableDimension="ecs:service:"
        "DesiredCount", MinCapacity=1, MaxCapacity=2)) == ("ValidationException", 400)
    assert code_of(lambda: scaling.register_scalable_target(
        **{**TARGET, "ResourceId": "endpoint/other/variant/AllTraffic"},
        MinCapacity=1, MaxCapacity=2)) == ("ValidationException", 400)
    scaling.deregister_scalable_target(**TARGET)
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")[
        "ScalableTargets"] == []
    assert code_of(lambda: scaling.deregister_scalable_target(**TARGET)) == (
        "ObjectNotFoundException", 400)


def test_policies_put_describe_delete(sandbox: SandboxThread) -> None:
    scaling = client(sandbox, "application-autoscaling")
    assert code_of(lambda: scaling.put_scaling_policy(
        PolicyName="ipi", **TARGET, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=IPI_POLICY)) == ("ObjectNotFoundException", 400)
    scaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=4)
    created = scaling.put_scaling_policy(
        PolicyName="ipi", **TARGET, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=IPI_POLICY)
    assert [a["AlarmName"].split("-Alarm")[1].split("-")[0] for a in created["Alarms"]] == [
        "High", "Low"]
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["PolicyARN"] == created["PolicyARN"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == IPI_POLICY
    assert scaling.describe_scaling_policies(ServiceNamespace="sagemaker",
                                             PolicyNames=["other"])["ScalingPolicies"] == []
    # Replacing a policy keeps its ARN and alarms.
    again = scaling.put_scaling_policy(
        PolicyName="ipi", **TARGET, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={**IPI_POLICY, "TargetValue": 20000.0})
    assert again["PolicyARN"] == created["PolicyARN"]
    assert code_of(lambda: scaling.put_scaling_policy(
        PolicyName="steps", **TARGET, PolicyType="StepScaling",
        StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity"})) == (
        "ValidationException", 400)
    assert code_of(lambda: scaling.put_scaling_policy(
        PolicyName="cpu", **TARGET, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 50.0})) == (
        "ValidationException", 400)
    scaling.delete_scaling_policy(PolicyName="ipi", **TARGET)
    assert scaling.describe_scaling_policies(ServiceNamespace="sagemaker")[
        "ScalingPolicies"] == []
    assert code_of(lambda: scaling.delete_scaling_policy(PolicyName="ipi", **TARGET)) == (
        "ObjectNotFoundException", 400)


def test_raising_min_capacity_updates_the_endpoint(sandbox: SandboxThread,
                                                   clock: MovableClock) -> None:
    scaling = client(sandbox, "application-autoscaling")
    sagemaker = client(sandbox, "sagemaker")
    scaling.register_scalable_target(**TARGET, MinCapacity=2, MaxCapacity=4)
    endpoint = sagemaker.describe_endpoint(EndpointName="loadwatch-sandbox")
    [variant] = endpoint["ProductionVariants"]
    assert endpoint["EndpointStatus"] == "Updating"
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 2)
    assert variant["VariantStatus"][0]["Status"] == "Updating"
    [activity] = scaling.describe_scaling_activities(ServiceNamespace="sagemaker")[
        "ScalingActivities"]
    assert activity["StatusCode"] == "InProgress"
    assert activity["Description"] == "Setting desired instance count to 2."
    assert "EndTime" not in activity
    step(sandbox, clock, 1.0)  # the provisioning delay of the test timings
    endpoint = sagemaker.describe_endpoint(EndpointName="loadwatch-sandbox")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    [activity] = scaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID,
        ScalableDimension=DIMENSION)["ScalingActivities"]
    assert activity["StatusCode"] == "Successful"
    assert activity["EndTime"] > activity["StartTime"]


def test_activities_newest_first_in_pages(sandbox: SandboxThread, clock: MovableClock) -> None:
    scaling = client(sandbox, "application-autoscaling")
    for minimum in (2, 3, 4):
        scaling.register_scalable_target(**TARGET, MinCapacity=minimum, MaxCapacity=4)
        step(sandbox, clock, 1.0)
    pages = scaling.get_paginator("describe_scaling_activities").paginate(
        ServiceNamespace="sagemaker", PaginationConfig={"PageSize": 2})
    descriptions = [a["Description"] for page in pages for a in page["ScalingActivities"]]
    assert descriptions == [f"Setting desired instance count to {n}." for n in (4, 3, 2)]
    assert code_of(lambda: scaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", NextToken="garbage")) == ("InvalidNextTokenException", 400)

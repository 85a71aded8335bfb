"""Inference components in the sandbox, driven by plain boto3 clients only (no loadwatch code).

The endpoint hosts a component; copies are placed by their declared room, wait for managed
instance scaling when nothing fits, and load before they serve. The runtime wants the
component header; at zero copies it answers as SageMaker does, and the scale-from-zero pair AWS
documents (a step policy run by an alarm on NoCapacityInvocationFailures) brings a copy back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.cli import main as cli_main
from sandbox.components import NAME_MISSING, NO_CAPACITY
from sandbox.config import (
    INSTANCE_PROFILES,
    SandboxConfig,
    config_from_json,
    config_to_json,
    with_component,
)
from sandbox.model import IrisModel
from sandbox.server import SandboxThread
from sandbox.simulation import Simulation
from tests.sandbox.conftest import (
    ALL_TIME,
    SMALL,
    TEST_TIMINGS,
    MovableClock,
    client,
    metric_value,
    step,
)
from tests.sandbox.test_auth import BLOG_ROW, send, signed

IC = "iris-ic"
RESOURCE = f"inference-component/{IC}"
COPIES = "sagemaker:inference-component:DesiredCopyCount"
IC_DIMENSIONS = [{"Name": "InferenceComponentName", "Value": IC}]


def ic_sandbox(start_sandbox: Callable[..., SandboxThread], copies: int = 1,
               max_instances: int = 2, profile: Any = SMALL) -> SandboxThread:
    """An endpoint of ``small`` instances (2 vCPUs: room for two one-core copies)."""
    config = with_component(SandboxConfig(profile=profile), IC, copies=copies,
                            max_instances=max_instances, load_s=1.0)
    return start_sandbox(profile=profile, components=config.components,
                         managed_scaling=config.managed_scaling)


def invoke(runtime: Any, handle: SandboxThread, component: str | None = IC) -> Any:
    extra = {} if component is None else {"InferenceComponentName": component}
    return runtime.invoke_endpoint(EndpointName=handle.endpoint_name, Body=BLOG_ROW,
                                   ContentType="text/csv", **extra)


def error_of(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


def metric_of_component(cloudwatch: Any, clock: MovableClock, name: str, stat: str = "Sum",
                        namespace: str = "AWS/SageMaker") -> float | None:
    """One statistic of the component's series over everything published so far."""
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name,
                       "Dimensions": IC_DIMENSIONS},
            "Period": ALL_TIME, "Stat": stat}}],
        StartTime=0, EndTime=clock() + 60)["MetricDataResults"][0]["Values"]
    return result[0] if result else None


def copies_of(sagemaker: Any) -> dict[str, int]:
    return sagemaker.describe_inference_component(InferenceComponentName=IC)["RuntimeConfig"]


def instances_of(sagemaker: Any, handle: SandboxThread) -> tuple[int, int]:
    variant = sagemaker.describe_endpoint(EndpointName=handle.endpoint_name)[
        "ProductionVariants"][0]
    return variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]


def test_the_endpoint_and_its_component_as_sagemaker_describes_them(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    handle = ic_sandbox(start_sandbox)
    sagemaker = client(handle, "sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=handle.endpoint_name)
    assert endpoint["MetricsConfig"] == {"EnableEnhancedMetrics": True,
                                         "MetricPublishFrequencyInSeconds": 1}
    assert "DeployedImages" not in endpoint["ProductionVariants"][0]
    variant = sagemaker.describe_endpoint_config(
        EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"][0]
    assert "ModelName" not in variant  # how a client tells an endpoint with components
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 0,
                                                 "MaxInstanceCount": 2}
    listed = sagemaker.list_inference_components(EndpointNameEquals=handle.endpoint_name)
    assert [c["InferenceComponentName"] for c in listed["InferenceComponents"]] == [IC]
    assert listed["InferenceComponents"][0]["InferenceComponentStatus"] == "InService"
    assert sagemaker.list_inference_components(
        EndpointNameEquals="another")["InferenceComponents"] == []
    described = sagemaker.describe_inference_component(InferenceComponentName=IC)
    assert described["RuntimeConfig"] == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}
    assert described["EndpointName"] == handle.endpoint_name
    assert described["Specification"]["ComputeResourceRequirements"] == {
        "NumberOfCpuCoresRequired": 1.0, "MinMemoryRequiredInMb": 1843}
    for call in (lambda: sagemaker.describe_inference_component(InferenceComponentName="x"),
                 lambda: sagemaker.update_inference_component_runtime_config(
                     InferenceComponentName="x", DesiredRuntimeConfig={"CopyCount": 1})):
        code, status, message = error_of(call)
        assert (code, status) == ("ValidationException", 400)
        assert "inference-component/x" in message
    code, _, message = error_of(lambda: sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=handle.endpoint_name,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}]))
    assert code == "ValidationException" and "UpdateInferenceComponentRuntimeConfig" in message


def test_every_request_names_a_component_that_exists(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    handle = ic_sandbox(start_sandbox)
    runtime = client(handle, "sagemaker-runtime")
    assert invoke(runtime, handle)["Body"].read().strip() == b"setosa"
    path = f"/endpoints/{handle.endpoint_name}/invocations"
    status, headers, body = send(handle.endpoint_url + path, BLOG_ROW,
                                 signed(handle, path, BLOG_ROW, {"Content-Type": "text/csv"}))
    assert status == 400
    assert headers["x-amzn-ErrorType"].startswith("ValidationError:")
    assert json.loads(body) == {"ErrorCode": "INFERENCE_COMPONENT_NAME_MISSING",
                                "Message": NAME_MISSING}
    assert error_of(lambda: invoke(runtime, handle, None))[:2] == ("ValidationError", 400)
    code, status, message = error_of(lambda: invoke(runtime, handle, "other"))
    assert (code, status) == ("ValidationError", 400) and "other not found" in message


def test_a_plain_endpoint_refuses_a_component_and_a_target_model(
        sandbox: SandboxThread) -> None:
    runtime = client(sandbox, "sagemaker-runtime")
    code, status, _ = error_of(lambda: invoke(runtime, sandbox, IC))
    assert (code, status) == ("ValidationError", 400)
    code, status, message = error_of(lambda: runtime.invoke_endpoint(
        EndpointName=sandbox.endpoint_name, Body=BLOG_ROW, ContentType="text/csv",
        TargetModel="model.tar.gz"))
    assert (code, status) == ("ValidationError", 400) and "multi-model" in message
    scaling = client(sandbox, "application-autoscaling")
    code, _, message = error_of(lambda: scaling.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId="endpoint/loadwatch-sandbox/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=0,
        MaxCapacity=2))
    assert code == "ValidationException" and "MinCapacity (0) must be at least 1" in message
    code, _, _ = error_of(lambda: scaling.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=COPIES,
        MinCapacity=0, MaxCapacity=2))
    assert code == "ValidationException"  # no such component here


def test_copies_that_fit_nowhere_wait_for_managed_scaling_to_add_an_instance(
        start_sandbox: Callable[..., SandboxThread], clock: MovableClock) -> None:
    handle = ic_sandbox(start_sandbox, copies=1, max_instances=2)
    sagemaker = client(handle, "sagemaker")
    sagemaker.update_inference_component_runtime_config(
        InferenceComponentName=IC, DesiredRuntimeConfig={"CopyCount": 3})
    # The first instance has room for one more copy (it loads); the third waits for a new one.
    assert copies_of(sagemaker) == {"DesiredCopyCount": 3, "CurrentCopyCount": 1}
    assert instances_of(sagemaker, handle) == (1, 2)
    step(handle, clock, 1.05)  # the second copy has loaded, the new instance is up
    assert copies_of(sagemaker)["CurrentCopyCount"] == 2
    assert instances_of(sagemaker, handle) == (2, 2)
    step(handle, clock, 1.0)  # the third copy loaded on it
    assert copies_of(sagemaker)["CurrentCopyCount"] == 3
    # Past MaxInstanceCount's room (2 instances x 2 copies) a copy is never placed.
    sagemaker.update_inference_component_runtime_config(
        InferenceComponentName=IC, DesiredRuntimeConfig={"CopyCount": 5})
    step(handle, clock, 3.0)
    assert copies_of(sagemaker) == {"DesiredCopyCount": 5, "CurrentCopyCount": 4}
    assert instances_of(sagemaker, handle) == (2, 2)
    # At zero copies the instances stay a while; a copy asked for then only loads.
    zero = {"CopyCount": 0}
    sagemaker.update_inference_component_runtime_config(InferenceComponentName=IC,
                                                        DesiredRuntimeConfig=zero)
    assert copies_of(sagemaker) == {"DesiredCopyCount": 0, "CurrentCopyCount": 0}
    step(handle, clock, 1.0)
    assert instances_of(sagemaker, handle) == (2, 2)
    sagemaker.update_inference_component_runtime_config(
        InferenceComponentName=IC, DesiredRuntimeConfig={"CopyCount": 1})
    step(handle, clock, 1.05)  # the load time alone: no instance to wait for
    assert copies_of(sagemaker)["CurrentCopyCount"] == 1
    # Idle past the release time, instances go (MinInstanceCount 0), then leave.
    sagemaker.update_inference_component_runtime_config(InferenceComponentName=IC,
                                                        DesiredRuntimeConfig=zero)
    step(handle, clock, TEST_TIMINGS.idle_instance_release_s)
    assert instances_of(sagemaker, handle)[1] == 0  # the second, idle longer, has left already
    step(handle, clock, TEST_TIMINGS.deprovisioning_delay_s + 0.05)
    assert instances_of(sagemaker, handle) == (0, 0)


def test_scale_from_zero_with_the_alarm_and_step_policy_aws_documents(
        start_sandbox: Callable[..., SandboxThread], clock: MovableClock) -> None:
    handle = ic_sandbox(start_sandbox, copies=0)
    sagemaker = client(handle, "sagemaker")
    runtime = client(handle, "sagemaker-runtime")
    scaling = client(handle, "application-autoscaling")
    cloudwatch = client(handle, "cloudwatch")
    step(handle, clock, TEST_TIMINGS.idle_instance_release_s)  # the idle instance is released
    step(handle, clock, TEST_TIMINGS.deprovisioning_delay_s + 0.05)
    assert instances_of(sagemaker, handle) == (0, 0)  # nothing left running
    scaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RESOURCE,
                                     ScalableDimension=COPIES, MinCapacity=0, MaxCapacity=4)
    policy_arn = scaling.put_scaling_policy(
        PolicyName="scale-from-zero", ServiceNamespace="sagemaker", ResourceId=RESOURCE,
        ScalableDimension=COPIES, PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Maximum",
            "Cooldown": 60, "StepAdjustments": [{"MetricIntervalLowerBound": 0,
                                                 "ScalingAdjustment": 1}]})["PolicyARN"]
    cloudwatch.put_metric_alarm(
        AlarmName="ic-scale-from-zero", AlarmActions=[policy_arn],
        MetricName="NoCapacityInvocationFailures", Namespace="AWS/SageMaker",
        Statistic="Maximum", Dimensions=IC_DIMENSIONS, Period=10, EvaluationPeriods=1,
        DatapointsToAlarm=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing")
    assert scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RESOURCE)[
        "ScalingPolicies"][0]["Alarms"][0]["AlarmName"] == "ic-scale-from-zero"

    code, status, message = error_of(lambda: invoke(runtime, handle))
    assert (code, status, message) == ("ValidationError", 400, NO_CAPACITY)
    # The alarm sees the failure once its 10 s period ends and is published.
    now = clock()
    step(handle, clock, math.ceil(now / 10) * 10 - now + TEST_TIMINGS.publication_delay_s + 0.1)
    alarm = cloudwatch.describe_alarms(AlarmNames=["ic-scale-from-zero"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["AlarmActions"] == [policy_arn]
    assert copies_of(sagemaker) == {"DesiredCopyCount": 1, "CurrentCopyCount": 0}
    assert instances_of(sagemaker, handle) == (0, 1)  # a copy waits for its instance
    activity = scaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE)["ScalingActivities"][0]
    assert activity["Description"] == "Setting desired copy count to 1."
    assert activity["ScalableDimension"] == COPIES
    step(handle, clock, TEST_TIMINGS.provisioning_delay_s)  # the instance is up; the copy loads
    assert error_of(lambda: invoke(runtime, handle))[2] == NO_CAPACITY
    step(handle, clock, 1.0)
    assert copies_of(sagemaker) == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}
    assert invoke(runtime, handle)["Body"].read().strip() == b"setosa"
    activity = scaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE)["ScalingActivities"][0]
    assert activity["StatusCode"] == "Successful"
    step(handle, clock, 1.0)
    # Refusals at zero count as the component's invocations (4XX) and as no-capacity failures.
    assert metric_of_component(cloudwatch, clock, "NoCapacityInvocationFailures") == 2
    assert metric_of_component(cloudwatch, clock, "Invocation4XXErrors") == 2
    assert metric_of_component(cloudwatch, clock, "Invocations") == 3


def test_per_component_metrics_and_cloudwatchs_own_rules(
        start_sandbox: Callable[..., SandboxThread], clock: MovableClock) -> None:
    handle = ic_sandbox(start_sandbox, copies=2)
    runtime = client(handle, "sagemaker-runtime")
    cloudwatch = client(handle, "cloudwatch")
    for _ in range(4):
        invoke(runtime, handle)
    step(handle, clock, 2.0)  # the period ends; its samples are taken
    step(handle, clock, 1.0)  # and published

    def component_metric(name: str, stat: str = "Sum",
                         namespace: str = "AWS/SageMaker") -> float | None:
        return metric_of_component(cloudwatch, clock, name, stat, namespace)

    assert component_metric("Invocations") == 4
    assert component_metric("InvocationsPerCopy") == pytest.approx(2.0)  # 4 over 2 copies
    assert component_metric("NoCapacityInvocationFailures") == 0
    assert component_metric("ModelLatency", "SampleCount") == 4
    assert component_metric("ConcurrentRequestsPerCopy", "SampleCount") >= 2
    assert component_metric("CPUUtilizationNormalized", "SampleCount",
                            "/aws/sagemaker/InferenceComponents") >= 2
    assert metric_value(cloudwatch, handle, "Invocations") == 4  # the endpoint's too
    for period in (7, 45, 90):
        code, status, _ = error_of(lambda p=period: cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "q", "MetricStat": {
                "Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations"},
                "Period": p, "Stat": "Sum"}}], StartTime=0, EndTime=clock()))
        assert (code, status) == ("InvalidParameterValue", 400)
    alarm = {"AlarmName": "a", "MetricName": "Invocations", "Namespace": "AWS/SageMaker",
             "Statistic": "Sum", "EvaluationPeriods": 1, "Threshold": 1.0,
             "ComparisonOperator": "GreaterThanThreshold"}
    assert error_of(lambda: cloudwatch.put_metric_alarm(Period=5, **alarm))[0] == \
        "InvalidParameterValue"  # 1 and 5 are for metrics, not alarms
    cloudwatch.put_metric_alarm(Period=20, **alarm)
    assert error_of(lambda: cloudwatch.delete_alarms(AlarmNames=["a", "b"]))[:2] == \
        ("ResourceNotFound", 404)
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 1  # all or nothing
    cloudwatch.delete_alarms(AlarmNames=["a"])
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []


def test_per_copy_target_tracking_and_the_metrics_it_may_use(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    handle = ic_sandbox(start_sandbox)
    scaling = client(handle, "application-autoscaling")
    scaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RESOURCE,
                                     ScalableDimension=COPIES, MinCapacity=0, MaxCapacity=4)
    target = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert (target["ScalableDimension"], target["MinCapacity"]) == (COPIES, 0)
    for metric in ("SageMakerInferenceComponentInvocationsPerCopy",
                   "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"):
        response = scaling.put_scaling_policy(
            PolicyName=metric, ServiceNamespace="sagemaker", ResourceId=RESOURCE,
            ScalableDimension=COPIES, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 4.0, "PredefinedMetricSpecification": {
                    "PredefinedMetricType": metric}})
        assert len(response["Alarms"]) == 2
    code, _, message = error_of(lambda: scaling.put_scaling_policy(
        PolicyName="per-instance", ServiceNamespace="sagemaker", ResourceId=RESOURCE,
        ScalableDimension=COPIES, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 4.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}))
    assert code == "ValidationException" and "does not apply" in message
    code, _, _ = error_of(lambda: scaling.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=0,
        MaxCapacity=4))
    assert code == "ValidationException"


def test_a_scale_out_ends_a_running_scale_in_cooldown(iris_model: IrisModel) -> None:
    config = with_component(SandboxConfig(profile=SMALL, timings=TEST_TIMINGS), IC, copies=2,
                            max_instances=2, load_s=1.0)
    sim = Simulation(config, iris_model, now=1000.0, wall=lambda: 1000.0)
    scaler = sim.autoscaler
    scaler.register(RESOURCE, 1000.0, 0, 4)
    steps = [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    out = scaler.put_step_policy(RESOURCE, "out", {
        "AdjustmentType": "ChangeInCapacity", "Cooldown": 100, "StepAdjustments": steps}, 1000.0)
    scale_in = scaler.put_step_policy(RESOURCE, "in", {
        "AdjustmentType": "ChangeInCapacity", "Cooldown": 100, "StepAdjustments": [
            {"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1}]}, 1000.0)
    assert scaler.run_step_policy(scale_in.arn, -1.0, 1000.0) is not None
    sim.step(1000.0)
    assert sim.desired(RESOURCE) == 1
    assert scaler.run_step_policy(scale_in.arn, -1.0, 1010.0) is None  # in its cooldown
    assert scaler.run_step_policy(out.arn, 1.0, 1020.0) is not None
    sim.step(1021.5)  # the new copy has loaded
    assert sim.desired(RESOURCE) == 2
    # Without the scale-out, scale-in would wait until 1100; the scale-out ended that wait.
    assert scaler.run_step_policy(scale_in.arn, -1.0, 1030.0) is not None
    assert sim.desired(RESOURCE) == 1


def test_an_llm_component_streams_with_the_header(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    handle = ic_sandbox(start_sandbox, profile=INSTANCE_PROFILES["ml.g5.12xlarge"])
    runtime = client(handle, "sagemaker-runtime")
    body = json.dumps({"inputs": "Why scale to zero?", "parameters": {"max_new_tokens": 4}})
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=handle.endpoint_name, Body=body, ContentType="application/json",
        InferenceComponentName=IC)
    parts = b"".join(event["PayloadPart"]["Bytes"] for event in response["Body"])
    assert parts.count(b'"token"') == 4
    code, status, message = error_of(lambda: runtime.invoke_endpoint_with_response_stream(
        EndpointName=handle.endpoint_name, Body=body, ContentType="application/json"))
    assert (code, status, message) == ("ValidationError", 400, NAME_MISSING)


def test_a_component_configuration_reaches_a_child_process_whole() -> None:
    config = with_component(SandboxConfig(profile=INSTANCE_PROFILES["ml.g5.12xlarge"]), "llm",
                            copies=0, max_instances=2)
    assert config_from_json(config_to_json(config)) == config


@pytest.mark.parametrize("args, says", [
    (["--copy-gpus", "1"], "needs 1 cores, 3686 MB and 1 GPUs a copy; one ml.m4.xlarge has 4"),
    (["--copies", "-1"], "--copies and --min-instances must be 0 or more"),
])
def test_a_component_that_cannot_run_is_one_line_and_exit_2(
        args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--port", "0", "--inference-component", "x", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err

"""profiles/sandbox-ic-zero.yml's story on the sandbox loadwatch starts for it, with plain boto3.

The sandbox is the one ``loadwatch run`` builds for the profile (its component on the
instance type for components, sized by the profile's scaling block), on one-second
periods so the story takes seconds; the scaling is what the profile's ``scaling`` block asks
for, set up with boto3 as AWS documents it: per-copy target tracking, MinCapacity 0 and the
scale-from-zero pair. Zero copies, a refused stream, the alarm, a copy on a new instance, load
that needs a second instance, then quiet until the copies and instances are gone.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.cli import COMPONENT_INSTANCE
from sandbox.components import NO_CAPACITY
from sandbox.config import SandboxConfig, profile_named, with_scaled_component
from sandbox.model import IrisModel
from sandbox.scaling_model import COPY_CONCURRENCY_METRIC, COPY_DIMENSION
from sandbox.server import SandboxThread
from sandbox.simulation import Simulation
from tests.sandbox.conftest import TEST_TIMINGS, MovableClock, client, step

PROFILE = Path(__file__).parents[2] / "profiles" / "sandbox-ic-zero.yml"
STREAMS = 40  # the profile's "about 40 streams in flight" at max load


def profile_and_config() -> tuple[dict[str, Any], SandboxConfig]:
    """The profile, and the sandbox ``loadwatch run`` starts for it (fast timings)."""
    profile = yaml.safe_load(PROFILE.read_text())
    scaling = profile["scaling"]
    config = with_scaled_component(
        SandboxConfig(profile=profile_named(COMPONENT_INSTANCE)),
        profile["sagemaker"]["inferenceComponent"],
        min_copies=scaling["min"], max_copies=scaling["max"])
    return profile, config


@pytest.fixture
def story(iris_model: IrisModel, clock: MovableClock) -> Any:
    profile, config = profile_and_config()
    config = config.replace(timings=TEST_TIMINGS, seed=20)
    component = profile["sagemaker"]["inferenceComponent"]
    assert [c.name for c in config.components] == [component]
    handle = SandboxThread(config, model=iris_model, wall=clock)
    yield profile, handle, component
    handle.stop()


def set_up_scaling(handle: SandboxThread, component: str, scaling: dict[str, Any],
                   period: int) -> None:
    """What the profile's scaling block asks for, as boto3 calls."""
    autoscaling = client(handle, "application-autoscaling")
    resource = f"inference-component/{component}"
    common = {"ServiceNamespace": "sagemaker", "ResourceId": resource,
              "ScalableDimension": COPY_DIMENSION}
    autoscaling.register_scalable_target(MinCapacity=scaling["min"],
                                         MaxCapacity=scaling["max"], **common)
    autoscaling.put_scaling_policy(
        PolicyName="per-copy", PolicyType="TargetTrackingScaling", **common,
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(scaling["target"]),
            "PredefinedMetricSpecification": {"PredefinedMetricType": COPY_CONCURRENCY_METRIC},
            "ScaleOutCooldown": 0, "ScaleInCooldown": 0})
    assert scaling["scaleFromZero"] is True
    arn = autoscaling.put_scaling_policy(
        PolicyName="from-zero", PolicyType="StepScaling", **common,
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Maximum",
            "Cooldown": 60, "StepAdjustments": [{"MetricIntervalLowerBound": 0,
                                                 "ScalingAdjustment": 1}]})["PolicyARN"]
    client(handle, "cloudwatch").put_metric_alarm(
        AlarmName="from-zero", AlarmActions=[arn], Namespace="AWS/SageMaker",
        MetricName="NoCapacityInvocationFailures", Statistic="Maximum", Period=period,
        Dimensions=[{"Name": "InferenceComponentName", "Value": component}],
        EvaluationPeriods=1, DatapointsToAlarm=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="missing")


def counts(handle: SandboxThread, component: str) -> tuple[int, int, int]:
    """(desired copies, current copies, current instances)."""
    sagemaker = client(handle, "sagemaker")
    runtime = sagemaker.describe_inference_component(
        InferenceComponentName=component)["RuntimeConfig"]
    variant = sagemaker.describe_endpoint(EndpointName=handle.endpoint_name)[
        "ProductionVariants"][0]
    return (runtime["DesiredCopyCount"], runtime["CurrentCopyCount"],
            variant["CurrentInstanceCount"])


def test_the_profile_story_from_zero_to_two_instances(story: Any, clock: MovableClock) -> None:
    profile, handle, component = story
    set_up_scaling(handle, component, profile["scaling"], period=10)
    runtime = client(handle, "sagemaker-runtime",
                     config=Config(retries={"total_max_attempts": 1}, read_timeout=30,
                                   max_pool_connections=STREAMS + 4))

    def one_stream(tokens: int = 4) -> int:
        body = json.dumps({"inputs": "x", "parameters": {"max_new_tokens": tokens}})
        response = runtime.invoke_endpoint_with_response_stream(
            EndpointName=handle.endpoint_name, Body=body, ContentType="application/json",
            InferenceComponentName=component)
        return sum(1 for _ in response["Body"])

    step(handle, clock, TEST_TIMINGS.idle_instance_release_s)  # the idle instance goes
    step(handle, clock, TEST_TIMINGS.deprovisioning_delay_s + 0.05)
    assert counts(handle, component) == (0, 0, 0)  # nothing runs
    with pytest.raises(ClientError) as refused:
        one_stream()
    assert refused.value.response["Error"]["Message"] == NO_CAPACITY
    now = clock()
    step(handle, clock, math.ceil(now / 10) * 10 - now + TEST_TIMINGS.publication_delay_s + 0.1)
    assert counts(handle, component) == (1, 0, 0)  # the alarm asked; the instance is coming
    load_s = handle.config.components[0].load_s
    step(handle, clock, TEST_TIMINGS.provisioning_delay_s + load_s + 0.05)  # up, copy loaded
    assert counts(handle, component) == (1, 1, 1)
    assert one_stream() >= 4

    # Load: forty streams of 60 tokens (about two seconds) against a target of 8 per copy.
    with ThreadPoolExecutor(STREAMS) as pool:
        streams = [pool.submit(one_stream, 60) for _ in range(STREAMS)]
        time.sleep(0.3)
        for _ in range(5):  # five one-second periods of about 40 in flight
            time.sleep(0.1)
            step(handle, clock, 1.0)
        assert all(s.result() > 0 for s in streams)
    assert counts(handle, component)[0] > 4  # more copies than one instance holds
    # The last busy periods may still add copies (up to max: 8); then all of them load on two
    # instances.
    step(handle, clock, TEST_TIMINGS.provisioning_delay_s + load_s + 0.05)
    step(handle, clock, TEST_TIMINGS.provisioning_delay_s + load_s + 0.05)
    desired, current, instances = counts(handle, component)
    assert 4 < desired == current <= profile["scaling"]["max"] and instances == 2


def test_the_profile_story_back_to_zero_after_quiet_minutes(iris_model: IrisModel) -> None:
    """Load has stopped: per-copy concurrency is 0 and AlarmLow's fifteen one-minute averages
    take the copies, then the instances, back to zero (no server: 17 simulated minutes)."""
    profile, config = profile_and_config()  # the fast timings themselves
    now = [1_000_000.0]
    sim = Simulation(config, iris_model, now=now[0], wall=lambda: now[0])
    component = profile["sagemaker"]["inferenceComponent"]
    resource = f"inference-component/{component}"
    scaling = profile["scaling"]
    sim.autoscaler.register(resource, now[0], scaling["min"], scaling["max"])
    sim.autoscaler.put_policy(resource, "per-copy", {
        "TargetValue": float(scaling["target"]),
        "PredefinedMetricSpecification": {"PredefinedMetricType": COPY_CONCURRENCY_METRIC}},
        now[0], sim.dimensions_of(resource))
    sim.set_desired(resource, 5, now[0])
    assert sim.fleet is not None
    start = None  # quiet from the moment a copy serves: serving copies publish 0 in flight
    for _ in range(6):  # the minute the load ran: instances up, copies loaded
        now[0] += 10
        sim.step(now[0])
        if start is None and sim.fleet.components[component].current:
            start = now[0]
    assert start is not None
    assert (sim.fleet.components[component].current, sim.fleet.current_instances) == (5, 2)
    zero_copies_at = zero_instances_at = None
    for _ in range(18 * 6):  # eighteen quiet minutes of 10-second periods
        now[0] += 10
        sim.step(now[0])
        fleet_component = sim.fleet.components[component]
        if zero_copies_at is None and fleet_component.desired == 0:
            zero_copies_at = now[0] - start
        if zero_instances_at is None and sim.fleet.current_instances == 0:
            zero_instances_at = now[0] - start
    assert zero_copies_at is not None and zero_instances_at is not None
    assert 14 * 60 <= zero_copies_at <= 16 * 60
    # The idle instances are released a minute later (fast timings; AWS: about ten) and leave
    # after the deprovisioning delay, to within one 10-second step.
    timings = config.timings
    released = zero_copies_at + timings.idle_instance_release_s + timings.deprovisioning_delay_s
    assert released <= zero_instances_at <= released + 10

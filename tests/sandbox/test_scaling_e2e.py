"""The blog's AFTER run in miniature, in real time: load above one instance scales the endpoint.

One-second periods and a one-second provisioning delay make the whole story take seconds:
3 periods above the target, the datapoint's publication delay, provisioning, then errors stop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sandbox.server import SandboxThread
from tests.sandbox.conftest import DIMENSION, RESOURCE_ID, SMALL, SignedInvoker, client, open_loop

RATE = 80.0  # requests per second: 1.6 times one small instance's 50


async def test_target_tracking_scales_out_and_errors_stop(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    sandbox = start_sandbox(profile=SMALL)  # real clock: the test never moves it
    scaling = client(sandbox, "application-autoscaling")
    target = {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE_ID,
              "ScalableDimension": DIMENSION}
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=4)
    # AWS's guidance: MAX_RPS x SAFETY_FACTOR x 60 = 50 x 0.5 x 60 invocations per minute.
    # 80 RPS is 4800 a minute: ceil(1 x 4800 / 1500) = 4 instances, at max capacity.
    scaling.put_scaling_policy(
        PolicyName="ipi", **target, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 1500.0, "ScaleOutCooldown": 5, "ScaleInCooldown": 600,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    sagemaker = client(sandbox, "sagemaker")
    scaled_at: list[float] = []
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        while not scaled_at:
            endpoint = await loop.run_in_executor(
                None, lambda: sagemaker.describe_endpoint(EndpointName=sandbox.endpoint_name))
            variant = endpoint["ProductionVariants"][0]
            if endpoint["EndpointStatus"] == "InService" and variant[
                    "CurrentInstanceCount"] >= 2:
                scaled_at.append(time.perf_counter())
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    results = await open_loop(SignedInvoker(sandbox), rate=RATE, seconds=12.0)
    watcher.cancel()
    assert scaled_at, "the endpoint never had two instances in service"
    in_service = scaled_at[0] - started
    assert in_service < 9.0  # 3 periods + 0.5 s delay + 1 s provisioning, plus slack
    before = [status for sent, status, _ in results if sent < 2.0]
    after = [status for sent, status, _ in results if sent > in_service + 0.5]
    assert before.count(503) > 0, "one instance at 1.6x its capacity must shed load"
    assert after and after.count(503) / len(after) < 0.01
    [activity] = scaling.describe_scaling_activities(ServiceNamespace="sagemaker")[
        "ScalingActivities"]
    assert activity["Description"] == "Setting desired instance count to 4."
    assert activity["StatusCode"] == "Successful"
    assert "AlarmHigh" in activity["Cause"]

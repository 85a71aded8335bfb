"""`scaling.metric: concurrency` puts the high-resolution concurrency policy (against moto)."""

from __future__ import annotations

from driver.aws.scaling import CONCURRENCY_PER_MODEL, ScalingState
from driver.profile import ScalingOptions
from tests.aws.conftest import make_endpoint
from tests.aws.test_scaling import control, now


async def test_enable_tracks_concurrent_requests_per_model(moto_aws):
    make_endpoint()
    options = ScalingOptions(min=1, max=4, metric="concurrency", target=16,
                             scale_out_cooldown=30, scale_in_cooldown=60)
    c = control(options)
    c.save(instances=1)
    assert c.describe_change("enable").startswith(
        "enable: 1-4 instances, target tracking 16 requests in flight/model (high resolution)")
    await c.enable()
    policy = now().policy("loadwatch-target-tracking")
    assert policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"] \
        == {"PredefinedMetricType": CONCURRENCY_PER_MODEL}
    assert CONCURRENCY_PER_MODEL == "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    assert now().describe().startswith(f"target tracking 16 on {CONCURRENCY_PER_MODEL}")
    # The monitor's header builds its label from the recorded configuration: same unit.
    assert ScalingState.of(now()).label() == "scaling on: 1-4 instances, target 16 in flight"
    assert c.state.label() == ScalingState.of(now()).label()

"""Target tracking on ConcurrentRequestsPerModel: out on 10-second data, in at a minute's pace."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.autoscaler import CONCURRENCY_METRIC
from sandbox.config import INSTANCE_PROFILES, SandboxConfig, Timings
from sandbox.model import IrisModel
from sandbox.server import SandboxThread
from sandbox.tracking import SCALE_IN, SCALE_OUT, Cooldowns, Decision, decide, minute_averages
from tests.sandbox.conftest import DIMENSION, RESOURCE_ID, client

G5 = INSTANCE_PROFILES["ml.g5.2xlarge"]
POLICY = {"TargetValue": 2.0,
          "PredefinedMetricSpecification": {"PredefinedMetricType": CONCURRENCY_METRIC}}


def test_minute_averages_group_the_newest_datapoints() -> None:
    assert minute_averages([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 3) == [3.0, 6.0]
    assert minute_averages([None, None, 2.0, None], 2) == [None, 2.0]


@given(st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=0, max_size=60),
       st.integers(1, 7))
def test_minute_averages_are_means_of_what_is_present(values: list[float | None],
                                                      group: int) -> None:
    averages = minute_averages(values, group)
    assert len(averages) == len(values) // group
    for index, value in enumerate(reversed(averages)):
        end = len(values) - index * group
        present = [v for v in values[end - group:end] if v is not None]
        assert value == (pytest.approx(sum(present) / len(present)) if present else None)


def test_low_values_decide_scale_in_while_values_decide_scale_out() -> None:
    common = {"target_value": 10.0, "desired": 3, "min_capacity": 1, "max_capacity": 4,
              "now": 0.0, "cooldowns": Cooldowns(), "scale_out_cooldown": 0.0,
              "scale_in_cooldown": 0.0}
    quiet = [2.0] * 90
    # Fifteen quiet 10-second datapoints are not fifteen quiet minutes ...
    assert decide(values=quiet[-15:], low_values=minute_averages(quiet[-15:], 6),
                  **common) == Decision()
    # ... fifteen quiet minutes are, and the capacity follows the newest minute.
    assert decide(values=quiet, low_values=minute_averages(quiet, 6),
                  **common) == Decision(SCALE_IN, 1, "low", 2.0)
    busy = [2.0] * 87 + [25.0] * 3
    assert decide(values=busy, low_values=minute_averages(busy, 6),
                  **common).action == SCALE_OUT


async def hold_streams(url: str, count: int, tokens: int) -> None:
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            async with session.post(f"{url}/v1/completions", json={
                    "prompt": "x", "max_tokens": tokens, "stream": True}) as response:
                await response.read()
        await asyncio.gather(*(one() for _ in range(count)))


def test_concurrency_scales_out_within_seconds(
        start_sandbox: Callable[..., SandboxThread]) -> None:
    handle = start_sandbox(profile=G5)  # 1-second periods
    scaling = client(handle, "application-autoscaling")
    scaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID,
                                     ScalableDimension=DIMENSION, MinCapacity=1,
                                     MaxCapacity=4)
    scaling.put_scaling_policy(PolicyName="concurrency", ServiceNamespace="sagemaker",
                               ResourceId=RESOURCE_ID, ScalableDimension=DIMENSION,
                               PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration=POLICY)
    started = time.monotonic()
    # Eight streams of 200 tokens (about six seconds): eight in flight against a target of 2.
    asyncio.run(hold_streams(handle.endpoint_url, 8, 200))
    activities = scaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID)["ScalingActivities"]
    assert activities, f"no scaling activity after {time.monotonic() - started:.1f} s"
    assert activities[-1]["Description"] == "Setting desired instance count to 4."
    assert "TargetTracking" in activities[-1]["Cause"]


def test_scale_in_waits_for_fifteen_quiet_minutes() -> None:
    now = [1_000_000.0]
    config = SandboxConfig(profile=G5, timings=Timings(period_s=10, publication_delay_s=5,
                                                       provisioning_delay_s=30,
                                                       deprovisioning_delay_s=10),
                           initial_instances=3, seed=1)
    from sandbox.simulation import Simulation

    sim = Simulation(config, IrisModel(), wall=lambda: now[0])
    sim.autoscaler.register(RESOURCE_ID, now[0], 1, 4)
    sim.autoscaler.put_policy(RESOURCE_ID, "concurrency", json.loads(json.dumps(POLICY)),
                              now[0], sim.dimensions)
    scaled_in_at = None
    for _ in range(120):  # twenty minutes of idle 10-second periods
        now[0] += 10
        sim.step(now[0])
        if scaled_in_at is None and sim.endpoint.desired < 3:
            scaled_in_at = now[0] - 1_000_000.0
    assert scaled_in_at is not None
    # Fifteen one-minute averages of the 10-second datapoints; the oldest minute may hold only
    # some of its six (a 60-second statistic over whatever is there, as CloudWatch's).
    assert 14 * 60 <= scaled_in_at <= 16 * 60
    assert [a.direction for a in sim.autoscaler.activities if a.direction] == [SCALE_IN]

"""Target tracking decisions by tables, and the autoscaler's activities on an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sandbox.autoscaler import (
    FAILED,
    IN_PROGRESS,
    OVERRIDDEN,
    SCALE_IN,
    SCALE_OUT,
    SUCCESSFUL,
    Cooldowns,
    Decision,
    decide,
    per_minute,
)
from sandbox.config import SandboxConfig, Timings
from sandbox.endpoint import SAGEMAKER_NAMESPACE
from sandbox.metricstore import Datapoint, series_key
from sandbox.model import IrisModel
from sandbox.simulation import Simulation

TARGET = 100.0
HIGH = [150.0] * 3
LOW = [50.0] * 15


@dataclass
class Case:
    values: list[float | None]
    desired: int = 1
    min_capacity: int = 1
    max_capacity: int = 4
    now: float = 1000.0
    cooldowns: Cooldowns = field(default_factory=Cooldowns)
    disable_scale_in: bool = False
    scale_out_suspended: bool = False
    scale_in_suspended: bool = False


CASES = {
    # 3 of 3 above the target: proportional, ceil(1 * 150 / 100) = 2.
    "scale out after 3 of 3": (Case(HIGH), Decision(SCALE_OUT, 2, "high", 150.0)),
    "2 of 3 above is not enough": (Case([150.0, 100.0, 150.0]), Decision()),
    "exactly at target is not above": (Case([150.0, 150.0, 100.0]), Decision()),
    "missing data breaks the streak": (Case([150.0, None, 150.0]), Decision()),
    "fewer than 3 datapoints": (Case([150.0, 150.0]), Decision()),
    "proportional from the newest": (Case([101.0, 101.0, 320.0], desired=1),
                                     Decision(SCALE_OUT, 4, "high", 320.0)),
    "proportional with 2 instances": (Case([130.0] * 3, desired=2),
                                      Decision(SCALE_OUT, 3, "high", 130.0)),
    "clamped to max": (Case([260.0] * 3, desired=2), Decision(SCALE_OUT, 4, "high", 260.0)),
    "already at max": (Case(HIGH, desired=4),
                       Decision(alarm="high", metric=150.0, not_scaled="AlreadyAtMaxCapacity")),
    "scale out suspended": (Case(HIGH, scale_out_suspended=True),
                            Decision(alarm="high", metric=150.0)),
    # 15 of 15 below 90 % of the target: ceil(3 * 50 / 100) = 2.
    "scale in after 15 of 15": (Case(LOW, desired=3), Decision(SCALE_IN, 2, "low", 50.0)),
    "14 of 15 below is not enough": (Case([95.0] + [50.0] * 14, desired=3), Decision()),
    "90 % exactly is not below": (Case([90.0] * 15, desired=3), Decision()),
    "missing data blocks scale in": (Case([50.0] * 14 + [None], desired=3), Decision()),
    "scale in clamped to min": (Case([10.0] * 15, desired=3, min_capacity=2),
                                Decision(SCALE_IN, 2, "low", 10.0)),
    "already at min": (Case(LOW, desired=1),
                       Decision(alarm="low", metric=50.0, not_scaled="AlreadyAtMinCapacity")),
    "proportional rounds up to current": (
        Case([85.0] * 15, desired=2),
        Decision(alarm="low", metric=85.0, not_scaled="AlreadyAtDesiredCapacity")),
    "scale in disabled": (Case(LOW, desired=3, disable_scale_in=True),
                          Decision(alarm="low", metric=50.0)),
    "scale in suspended": (Case(LOW, desired=3, scale_in_suspended=True),
                           Decision(alarm="low", metric=50.0)),
    # Scale-out cooldown (60 s here): only a larger scale-out, computed from the capacity
    # before the previous one, goes ahead.
    "in scale-out cooldown, same size": (
        Case(HIGH, desired=2, cooldowns=Cooldowns(out_started=990.0, out_from=1)),
        Decision(alarm="high", metric=150.0)),
    "in scale-out cooldown, larger": (
        Case([250.0] * 3, desired=2, cooldowns=Cooldowns(out_started=990.0, out_from=1)),
        Decision(SCALE_OUT, 3, "high", 250.0)),
    "scale-out cooldown runs from completion": (
        Case(HIGH, desired=2, now=1000.0,
             cooldowns=Cooldowns(out_started=900.0, out_ended=950.0, out_from=1)),
        Decision(alarm="high", metric=150.0)),
    "after the scale-out cooldown": (
        Case(HIGH, desired=2, now=1011.0,
             cooldowns=Cooldowns(out_started=900.0, out_ended=950.0, out_from=1)),
        Decision(SCALE_OUT, 3, "high", 150.0)),
    # Scale-in cooldown (300 s here) holds scale-in back, never scale-out.
    "in scale-in cooldown": (
        Case(LOW, desired=3, cooldowns=Cooldowns(in_started=600.0, in_ended=800.0)),
        Decision(alarm="low", metric=50.0)),
    "scale-in still running": (
        Case(LOW, desired=3, cooldowns=Cooldowns(in_started=100.0)),
        Decision(alarm="low", metric=50.0)),
    "after the scale-in cooldown": (
        Case(LOW, desired=3, cooldowns=Cooldowns(in_started=600.0, in_ended=700.0)),
        Decision(SCALE_IN, 2, "low", 50.0)),
    "scale out during scale-in cooldown": (
        Case(HIGH, desired=1, cooldowns=Cooldowns(in_started=990.0, in_ended=995.0)),
        Decision(SCALE_OUT, 2, "high", 150.0)),
}


@pytest.mark.parametrize(("case", "expected"), CASES.values(), ids=CASES.keys())
def test_decide(case: Case, expected: Decision) -> None:
    decision = decide(
        target_value=TARGET, values=case.values, desired=case.desired,
        min_capacity=case.min_capacity, max_capacity=case.max_capacity, now=case.now,
        cooldowns=case.cooldowns, scale_out_cooldown=60.0, scale_in_cooldown=300.0,
        disable_scale_in=case.disable_scale_in, scale_out_suspended=case.scale_out_suspended,
        scale_in_suspended=case.scale_in_suspended)
    assert decision == expected


@pytest.mark.parametrize(("value", "statistic", "period", "expected"), [
    (100.0, "Sum", 10, 600.0),  # 100 invocations per instance in 10 s = 600 per minute
    (100.0, "Sum", 60, 100.0),
    (7.0, "SampleCount", 1, 420.0),
    (42.0, "Average", 10, 42.0),
    (None, "Sum", 10, None),
])
def test_counts_are_compared_per_minute(value: float | None, statistic: str, period: int,
                                        expected: float | None) -> None:
    assert per_minute(value, statistic, period) == expected


# --- the autoscaler on a simulation driven by an injected clock ------------------------------

T0 = 1_000_000.0  # a period boundary for 10 s periods
TIMINGS = Timings(period_s=10, publication_delay_s=5, provisioning_delay_s=30,
                  deprovisioning_delay_s=10, default_cooldown_s=50)
IPI = series_key(SAGEMAKER_NAMESPACE, "InvocationsPerInstance",
                 [("EndpointName", "loadwatch-sandbox"), ("VariantName", "AllTraffic")])


class Driven:
    """A simulation whose InvocationsPerInstance is whatever the test publishes."""

    def __init__(self, model: IrisModel, **changes: object) -> None:
        config = SandboxConfig(timings=TIMINGS).replace(**changes)
        self.sim = Simulation(config, model, now=T0, wall=lambda: T0)
        self.scaler = self.sim.autoscaler
        self.resource_id = self.sim.resource_id
        self.now = T0

    def register(self, minimum: int = 1, maximum: int = 4, **suspended: bool) -> None:
        self.scaler.register(self.resource_id, self.now, minimum, maximum, None, suspended)

    def policy(self, target: float = 6000.0, **extra: object) -> None:
        self.scaler.put_policy(self.resource_id, "ipi", {
            "TargetValue": target,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            **extra,
        }, self.now, self.sim.dimensions)

    def period(self, invocations_per_instance: float) -> None:
        """Publish one period's InvocationsPerInstance Sum and step to when alarms see it."""
        start = int(self.now)
        self.sim.store.put(IPI, start, Datapoint.of_values({invocations_per_instance: 1}),
                           start + 10 + 5)
        self.now += 10
        self.sim.step(self.now + 5)

    def at(self, t: float) -> None:
        self.now = t
        self.sim.step(t)


@pytest.fixture
def driven(iris_model: IrisModel) -> Driven:
    return Driven(iris_model)


def test_scale_out_after_three_periods_then_success(driven: Driven) -> None:
    driven.register()
    driven.policy(target=6000.0)  # per minute: 1000 per 10 s period
    driven.period(1500)
    driven.period(1500)
    assert driven.scaler.activities == []
    driven.period(1500)  # 9000 per minute, three times: ceil(1 * 9000 / 6000) = 2
    [activity] = driven.scaler.activities
    assert activity.status == IN_PROGRESS
    assert activity.description == "Setting desired instance count to 2."
    assert activity.cause.startswith(
        "monitor alarm TargetTracking-endpoint/loadwatch-sandbox/variant/AllTraffic-AlarmHigh-")
    assert activity.cause.endswith(" in state ALARM triggered policy ipi")
    endpoint = driven.sim.endpoint
    assert (endpoint.status, endpoint.desired, endpoint.current) == ("Updating", 2, 1)
    started = activity.start
    driven.at(started + 29.9)
    assert endpoint.status == "Updating"
    driven.at(started + 30.0)
    assert (endpoint.status, endpoint.current) == ("InService", 2)
    assert activity.status == SUCCESSFUL
    assert activity.end == started + 30.0
    assert activity.status_message == ("Successfully set desired instance count to 2. Change "
                                       "successfully fulfilled by sagemaker.")


def test_suspended_scale_out_starts_nothing(driven: Driven) -> None:
    driven.register(DynamicScalingOutSuspended=True)
    driven.policy()
    for _ in range(5):
        driven.period(3000)
    assert driven.scaler.activities == []
    driven.register(DynamicScalingOutSuspended=False)
    driven.period(3000)
    assert [a.desired for a in driven.scaler.activities] == [3]


def test_scale_in_after_fifteen_periods_and_not_below_min(driven: Driven) -> None:
    driven.sim.endpoint.set_desired(3, driven.now)
    driven.at(driven.now + 30)
    driven.register(minimum=2, maximum=4)
    driven.policy(target=6000.0, ScaleInCooldown=100)
    for _ in range(14):
        driven.period(100)  # 600 per minute, far below 90 % of 6000
    assert driven.scaler.activities == []
    driven.period(100)
    [activity] = driven.scaler.activities
    assert (activity.desired, activity.status) == (2, IN_PROGRESS)  # ceil(3 * 0.1) = 1 -> min 2
    assert "AlarmLow" in activity.cause
    driven.at(activity.start + 10)  # removed instances leave after the deprovisioning delay
    assert activity.status == SUCCESSFUL
    assert driven.sim.endpoint.current == 2


def test_disable_scale_in_keeps_capacity(driven: Driven) -> None:
    driven.sim.endpoint.set_desired(2, driven.now)
    driven.at(driven.now + 30)
    driven.register()
    driven.policy(DisableScaleIn=True)
    for _ in range(20):
        driven.period(10)
    assert driven.scaler.activities == []
    assert driven.sim.endpoint.desired == 2


def test_a_larger_scale_out_overrides_one_in_progress(driven: Driven) -> None:
    driven.register()
    driven.policy(target=6000.0, ScaleOutCooldown=300)
    for _ in range(3):
        driven.period(1500)  # -> 2, provisioning for 30 s
    driven.period(1500)  # in cooldown and not larger than 2: nothing new
    assert len(driven.scaler.activities) == 1
    driven.period(2600)  # ceil(1 * 15600 / 6000) = 3 > 2: a larger scale-out
    first, second = driven.scaler.activities
    assert (first.status, second.status, second.desired) == (OVERRIDDEN, IN_PROGRESS, 3)
    assert driven.sim.endpoint.desired == 3


def test_at_max_capacity_one_not_scaled_activity_per_episode(driven: Driven) -> None:
    driven.register(minimum=1, maximum=1)
    driven.policy()
    for _ in range(8):
        driven.period(3000)
    [activity] = driven.scaler.activities
    assert activity.status == FAILED
    assert activity.not_scaled_reasons == [{"Code": "AlreadyAtMaxCapacity", "MaxCapacity": 1}]
    assert activity.description == "Attempting to scale due to alarm triggered"


def test_raising_min_capacity_scales_without_a_policy(driven: Driven) -> None:
    driven.register(minimum=3, maximum=4)
    [activity] = driven.scaler.activities
    assert activity.cause == "minimum capacity was set to 3"
    assert driven.sim.endpoint.desired == 3
    driven.at(driven.now + 30)
    assert activity.status == SUCCESSFUL


def test_customized_metric_on_invocations_per_instance(driven: Driven) -> None:
    driven.register()
    driven.scaler.put_policy(driven.resource_id, "custom", {
        "TargetValue": 6000.0,
        "CustomizedMetricSpecification": {
            "MetricName": "InvocationsPerInstance", "Namespace": "AWS/SageMaker",
            "Dimensions": [{"Name": "EndpointName", "Value": "loadwatch-sandbox"},
                           {"Name": "VariantName", "Value": "AllTraffic"}],
            "Statistic": "Sum"},
    }, driven.now, driven.sim.dimensions)
    for _ in range(3):
        driven.period(2000)  # 12000 per minute -> 2
    assert [a.desired for a in driven.scaler.activities] == [2]

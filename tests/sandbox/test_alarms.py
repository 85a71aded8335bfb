"""User CloudWatch alarms: states by TreatMissingData, when they act, and step policies' answers.

The alarm takes its datapoints from a reader and acts through a runner, so these tables feed
it datapoints directly, as test_autoscaler.py does for target tracking's ``decide``.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.alarms import ALARM, INSUFFICIENT_DATA, OK, Alarm, Alarms
from sandbox.config import SandboxConfig, with_component
from sandbox.model import IrisModel
from sandbox.simulation import Simulation
from tests.sandbox.conftest import SMALL, TEST_TIMINGS


def alarm(**changes: Any) -> Alarm:
    fields: dict[str, Any] = {
        "name": "a", "arn": "arn:a", "namespace": "AWS/SageMaker", "metric": "M",
        "dimensions": (), "statistic": "Maximum", "period": 10, "evaluation_periods": 3,
        "datapoints_to_alarm": 2, "threshold": 1.0,
        "comparison": "GreaterThanOrEqualToThreshold", "treat_missing": "missing",
        "actions": ["arn:policy"], "actions_enabled": True, "request": {}, "updated": 0.0}
    fields.update(changes)
    return Alarm(**fields)


CASES = {
    "2 of 3 breach": ([1.0, 0.0, 2.0], "missing", ALARM),
    "1 of 3 breach": ([0.0, 0.0, 2.0], "missing", OK),
    "all missing, missing": ([None, None, None], "missing", INSUFFICIENT_DATA),
    "all missing, notBreaching": ([None, None, None], "notBreaching", OK),
    "all missing, breaching": ([None, None, None], "breaching", ALARM),
    "one present and breaching, missing": ([None, None, 3.0], "missing", ALARM),
    "one present and breaching, notBreaching": ([None, None, 3.0], "notBreaching", OK),
}


@pytest.mark.parametrize("values, treat_missing, state", CASES.values(), ids=CASES.keys())
def test_states(values: list[float | None], treat_missing: str, state: str) -> None:
    alarms = Alarms()
    alarms.put(alarm(treat_missing=treat_missing))
    alarms.evaluate(100.0, 100, lambda *query: values, lambda *action: None)
    assert alarms.alarms["a"].state == state


def test_ignore_keeps_the_state_and_actions_repeat_each_minute_in_alarm() -> None:
    alarms = Alarms()
    alarms.put(alarm(treat_missing="ignore"))
    runs: list[float] = []
    values: list[float | None] = [2.0, 2.0, 2.0]
    for end in range(10, 100, 10):  # an alarm in ALARM for 90 s: acts at 10, 70
        alarms.evaluate(float(end), end, lambda *query: values,
                        lambda action, a, value, now: runs.append(now))
    assert runs == [10.0, 70.0]
    values = [None, None, None]
    alarms.evaluate(100.0, 100, lambda *query: values, lambda *action: None)
    assert alarms.alarms["a"].state == ALARM  # ignore: nothing to go on, the state stays
    assert alarms.delete(["a", "b"]) == ["b"] and "a" in alarms.alarms  # all or none


def test_a_step_policy_at_its_maximum_leaves_a_not_scaled_activity(
        iris_model: IrisModel) -> None:
    config = with_component(SandboxConfig(profile=SMALL, timings=TEST_TIMINGS), "ic", copies=1,
                            load_s=1.0)
    sim = Simulation(config, iris_model, now=1000.0, wall=lambda: 1000.0)
    resource = "inference-component/ic"
    sim.autoscaler.register(resource, 1000.0, 0, 1)
    policy = sim.autoscaler.put_step_policy(resource, "out", {
        "AdjustmentType": "PercentChangeInCapacity", "MinAdjustmentMagnitude": 1,
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 10}]}, 1000.0)
    activity = sim.autoscaler.run_step_policy(policy.arn, 0.5, 1000.0)
    assert activity is not None and activity.not_scaled_reasons == [
        {"Code": "AlreadyAtMaxCapacity", "MaxCapacity": 1}]
    assert sim.autoscaler.run_step_policy(policy.arn, 0.5, 1060.0) is None  # once per episode
    assert sim.autoscaler.run_step_policy(policy.arn, -0.5, 1070.0) is None  # no step for it

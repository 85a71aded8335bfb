"""Application Auto Scaling for SageMaker variants and inference components.

Target tracking as Application Auto Scaling does it (below), and step scaling driven by the
CloudWatch alarms users create (sandbox/alarms.py): ``run_step_policy`` applies the step whose
interval holds the alarm's breach (metric minus threshold). An inference component's target
(``inference-component/NAME``, DesiredCopyCount) may have MinCapacity 0; target tracking cannot
scale it up from zero (its capacity times anything is zero), which is why AWS pairs it with a
step policy on NoCapacityInvocationFailures. A scale-out ends a running scale-in cooldown.

Each policy has the two CloudWatch alarms AWS creates: AlarmHigh (metric above the target for
3 of 3 periods) and AlarmLow (below 90 % of the target for 15 of 15). While an alarm is in
ALARM the policy asks for ``ceil(capacity * metric / target)`` instances, clamped to
[min, max], using the newest datapoint. Missing datapoints break a streak (AWS's alarms treat
missing data as not breaching, which is why an idle SageMaker endpoint never scales in).

Cooldowns, as AWS documents them: during a scale-out cooldown (from the start of a scale-out
until ``ScaleOutCooldown`` after it completed) another scale-out happens only if it is larger
than the previous one, computed from the capacity before it; scale-in waits until
``ScaleInCooldown`` after the last scale-in completed; a scale-out is never held back by a
scale-in cooldown. ``decide`` is a pure function of its inputs, so every rule above is tested
by tables; ``Autoscaler`` keeps targets, policies and activities and calls it.

SageMaker's unit is invocations per instance per minute. With shorter periods, Sum and
SampleCount values are scaled by 60 / period before they are compared with the target.

The high-resolution predefined metric (``ConcurrentRequestsPerModel``, Average) scales out on
its own datapoints, one per metric period (10 s in the fast preset, AWS's resolution), and in at
a standard metric's pace: AlarmLow looks at 15 one-minute averages of those datapoints.
"""

from __future__ import annotations

import uuid
from typing import Any

from sandbox.errors import AwsError, validation
from sandbox.scaling_model import (
    COMPONENT_PREFIX,
    CONCURRENCY_METRIC,
    COPY_DIMENSION,
    FAILED,
    IN_PROGRESS,
    OVERRIDDEN,
    PENDING,
    PREDEFINED_METRIC,
    SCALABLE_DIMENSION,
    SERVICE_NAMESPACE,
    STANDARD_PERIOD_S,
    STEP_SCALING,
    SUCCESSFUL,
    Activity,
    Actuator,
    MetricSpec,
    Policy,
    ScalableTarget,
    dimension_of,
    metric_spec,
    no_target,
    seconds,
)
from sandbox.tracking import (
    LOW_PERIODS,
    SCALE_IN,
    SCALE_OUT,
    Cooldowns,
    Decision,
    decide,
    minute_averages,
    per_minute,
)

# What other modules and the tests take from here (the model lives in sandbox/scaling_model).
__all__ = [
    "CONCURRENCY_METRIC", "COPY_DIMENSION", "FAILED", "IN_PROGRESS", "OVERRIDDEN", "PENDING",
    "PREDEFINED_METRIC", "SCALABLE_DIMENSION", "SCALE_IN", "SCALE_OUT", "SERVICE_NAMESPACE",
    "SUCCESSFUL", "Activity", "Actuator", "Autoscaler", "Cooldowns", "Decision", "MetricSpec",
    "Policy", "ScalableTarget", "decide", "per_minute",
]


class Autoscaler:
    """Application Auto Scaling for one account and region: targets, policies, activities."""

    def __init__(self, actuator: Actuator, *, region: str, account_id: str, period_s: float,
                 default_cooldown_s: float, high_resolution_s: float | None = None) -> None:
        self.actuator = actuator
        self.region = region
        self.account_id = account_id
        self.period_s = period_s  # a standard metric's
        self.high_resolution_s = high_resolution_s or period_s  # ConcurrentRequestsPerModel's
        # Per policy, the newest period of its metric it was evaluated on: a standard policy
        # is evaluated once per minute, however often the finer metric is.
        self._evaluated: dict[tuple[str, str], int] = {}
        self.default_cooldown_s = default_cooldown_s
        self.targets: dict[str, ScalableTarget] = {}
        self.policies: dict[tuple[str, str], Policy] = {}
        self.activities: list[Activity] = []  # oldest first
        self.cooldowns: dict[str, Cooldowns] = {}
        self._last_not_scaled: dict[str, str | None] = {}

    # --- control plane ----------------------------------------------------------------------

    def register(self, resource_id: str, now: float, min_capacity: int | None = None,
                 max_capacity: int | None = None, role_arn: str | None = None,
                 suspended: dict[str, bool] | None = None) -> ScalableTarget:
        """Create or update a scalable target; capacity outside new bounds is moved inside."""
        component = resource_id.startswith(COMPONENT_PREFIX)
        if self.actuator.desired(resource_id) is None:
            kind = "inference component" if component else "endpoint variant"
            raise validation(f"The resource ID {resource_id!r} does not identify an existing "
                             f"SageMaker {kind}.")
        target = self.targets.get(resource_id)
        if target is None:
            if min_capacity is None or max_capacity is None:
                raise validation("MinCapacity and MaxCapacity are required to register a "
                                 "new scalable target.")
            target = ScalableTarget(
                resource_id, min_capacity, max_capacity,
                role_arn or (f"arn:aws:iam::{self.account_id}:role/aws-service-role/"
                             "sagemaker.application-autoscaling.amazonaws.com/"
                             "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"),
                f"arn:aws:application-autoscaling:{self.region}:{self.account_id}:"
                f"scalable-target/{uuid.uuid4().hex}",
                now)
        new_min = target.min_capacity if min_capacity is None else min_capacity
        new_max = target.max_capacity if max_capacity is None else max_capacity
        lowest = 0 if component else 1  # only an inference component scales to zero
        if new_min < lowest or new_max < new_min:
            raise validation(f"MinCapacity ({new_min}) must be at least {lowest} and no more "
                             f"than MaxCapacity ({new_max}).")
        min_changed = new_min != target.min_capacity or resource_id not in self.targets
        target.min_capacity, target.max_capacity = new_min, new_max
        if suspended:
            target.scale_in_suspended = suspended.get("DynamicScalingInSuspended",
                                                      target.scale_in_suspended)
            target.scale_out_suspended = suspended.get("DynamicScalingOutSuspended",
                                                       target.scale_out_suspended)
            target.scheduled_suspended = suspended.get("ScheduledScalingSuspended",
                                                       target.scheduled_suspended)
        self.targets[resource_id] = target
        self.cooldowns.setdefault(resource_id, Cooldowns())
        desired = self.actuator.desired(resource_id) or 0
        if desired < new_min:
            cause = f"minimum capacity was set to {new_min}" if min_changed else \
                f"minimum capacity is {new_min}"
            self._scale(resource_id, new_min, desired, now, cause, SCALE_OUT, cooldown=False)
        elif desired > new_max:
            self._scale(resource_id, new_max, desired, now,
                        f"maximum capacity was set to {new_max}", SCALE_IN, cooldown=False)
        return target

    def deregister(self, resource_id: str) -> None:
        if resource_id not in self.targets:
            raise no_target(resource_id)
        del self.targets[resource_id]
        for key in [k for k in self.policies if k[0] == resource_id]:
            del self.policies[key]

    def _policy_arn(self, resource_id: str, name: str) -> str:
        previous = self.policies.get((resource_id, name))
        if previous is not None:
            return previous.arn
        return (f"arn:aws:autoscaling:{self.region}:{self.account_id}:scalingPolicy:"
                f"{uuid.uuid4()}:resource/sagemaker/{resource_id}:policyName/{name}")

    def put_step_policy(self, resource_id: str, name: str, configuration: dict[str, Any],
                        now: float) -> Policy:
        """Create or replace a StepScaling policy; CloudWatch alarms name its ARN to run it."""
        if resource_id not in self.targets:
            raise no_target(resource_id)
        adjustment_type = configuration.get("AdjustmentType")
        if adjustment_type not in ("ChangeInCapacity", "PercentChangeInCapacity",
                                   "ExactCapacity"):
            raise validation("StepScalingPolicyConfiguration.AdjustmentType must be "
                             "ChangeInCapacity, PercentChangeInCapacity or ExactCapacity.")
        steps = configuration.get("StepAdjustments")
        if not isinstance(steps, list) or not steps or not all(
                isinstance(step, dict) and isinstance(step.get("ScalingAdjustment"), int)
                for step in steps):
            raise validation("StepScalingPolicyConfiguration.StepAdjustments needs at least "
                             "one step with a whole ScalingAdjustment.")
        cooldown = seconds(configuration.get("Cooldown"))
        previous = self.policies.get((resource_id, name))
        policy = Policy(name, self._policy_arn(resource_id, name), resource_id,
                        previous.created if previous else now, 0.0, None, cooldown, cooldown,
                        False, dict(configuration), [], policy_type=STEP_SCALING)
        self.policies[(resource_id, name)] = policy
        return policy

    def run_step_policy(self, arn: str, breach: float | None, now: float) -> Activity | None:
        """An alarm in ALARM runs the step policy ``arn``; ``breach`` is metric − threshold."""
        policy = next((p for p in self.policies.values()
                       if p.arn == arn and p.policy_type == STEP_SCALING), None)
        if policy is None or breach is None:
            return None
        resource_id = policy.resource_id
        target = self.targets.get(resource_id)
        desired = self.actuator.desired(resource_id)
        if target is None or desired is None:
            return None
        config = policy.configuration
        step = _step_for(config["StepAdjustments"], breach)
        if step is None:
            return None
        cooldowns = self.cooldowns.setdefault(resource_id, Cooldowns())
        cooldown = self._cooldown(policy.scale_out_cooldown)
        adjustment = step["ScalingAdjustment"]
        base = desired
        if adjustment > 0 and cooldowns.scale_out_cooling(now, cooldown):
            base = cooldowns.out_from  # the last scale-out's capacity counts toward this one
        wanted = _adjusted(base, adjustment, config)
        wanted = max(target.min_capacity, min(target.max_capacity, wanted))
        alarm_cause = f"monitor alarm in state ALARM triggered policy {policy.name}"
        if wanted > desired and not target.scale_out_suspended:
            self._last_not_scaled[resource_id] = None
            return self._scale(resource_id, wanted, desired, now, alarm_cause, SCALE_OUT)
        if wanted < desired and not target.scale_in_suspended and \
                not cooldowns.scale_in_cooling(now, cooldown):
            self._last_not_scaled[resource_id] = None
            return self._scale(resource_id, wanted, desired, now, alarm_cause, SCALE_IN)
        if adjustment > 0 and desired >= target.max_capacity:
            return self._record_not_scaled(resource_id, alarm_cause, now,
                                           {"Code": "AlreadyAtMaxCapacity",
                                            "MaxCapacity": target.max_capacity})
        return None

    def put_policy(self, resource_id: str, name: str, configuration: dict[str, Any],
                   now: float, endpoint_dimensions: tuple[tuple[str, str], ...]) -> Policy:
        """Create or replace a TargetTrackingScaling policy (the alarms keep their names)."""
        if resource_id not in self.targets:
            raise no_target(resource_id)
        target_value = configuration.get("TargetValue")
        if not isinstance(target_value, (int, float)) or target_value <= 0:
            raise validation("TargetValue must be a positive number.")
        metric = metric_spec(configuration, endpoint_dimensions)
        previous = self.policies.get((resource_id, name))
        if previous is not None and previous.alarms:
            arn, created, alarms = previous.arn, previous.created, previous.alarms
        else:
            arn = self._policy_arn(resource_id, name)
            created = previous.created if previous else now
            alarms = []
            for kind in ("AlarmHigh", "AlarmLow"):
                alarm = f"TargetTracking-{resource_id}-{kind}-{uuid.uuid4()}"
                alarms.append({
                    "AlarmName": alarm,
                    "AlarmARN": f"arn:aws:cloudwatch:{self.region}:{self.account_id}:"
                                f"alarm:{alarm}",
                })
        policy = Policy(
            name, arn, resource_id, created, float(target_value), metric,
            seconds(configuration.get("ScaleOutCooldown")),
            seconds(configuration.get("ScaleInCooldown")),
            bool(configuration.get("DisableScaleIn", False)), dict(configuration), alarms)
        self.policies[(resource_id, name)] = policy
        return policy

    def delete_policy(self, resource_id: str, name: str) -> None:
        if (resource_id, name) not in self.policies:
            raise AwsError("ObjectNotFoundException",
                           f"No scaling policy found for service namespace: sagemaker, "
                           f"resource ID: {resource_id}, scalable dimension: "
                           f"{dimension_of(resource_id)}, policy name: {name}")
        del self.policies[(resource_id, name)]

    # --- the alarms ---------------------------------------------------------------------------

    def evaluate(self, now: float, last_period_start: int) -> list[Activity]:
        """Evaluate every policy's alarms on the periods up to ``last_period_start``.

        Called once per finest period (``high_resolution_s``), when that period's datapoints
        have become visible; a policy on a standard metric is evaluated only when a period of
        its own has ended since. Returns the activities it started (including not-scaled ones).
        """
        started: list[Activity] = []
        fine_end = last_period_start + self.high_resolution_s
        for resource_id, target in self.targets.items():
            desired = self.actuator.desired(resource_id)
            if desired is None:
                continue
            decisions = []
            policies = [p for (r, _), p in self.policies.items()
                        if r == resource_id and p.metric is not None]
            for policy in policies:
                assert policy.metric is not None
                period = self._period_of(policy.metric)
                newest = int(fine_end // period * period - period)
                if self._evaluated.get((resource_id, policy.name)) == newest:
                    continue  # nothing new for this policy's metric
                self._evaluated[(resource_id, policy.name)] = newest
                group = self._minute_group(policy.metric)
                raw = self.actuator.metric(policy.metric, newest, LOW_PERIODS * group, now,
                                           int(period))
                values = [per_minute(v, policy.metric.statistic, period) for v in raw]
                low_values = None if group == 1 else minute_averages(values, group)
                decision = decide(
                    target_value=policy.target_value, values=values, desired=desired,
                    min_capacity=target.min_capacity, max_capacity=target.max_capacity,
                    now=now, cooldowns=self.cooldowns[resource_id],
                    scale_out_cooldown=self._cooldown(policy.scale_out_cooldown),
                    scale_in_cooldown=self._cooldown(policy.scale_in_cooldown),
                    disable_scale_in=policy.disable_scale_in,
                    scale_out_suspended=target.scale_out_suspended,
                    scale_in_suspended=target.scale_in_suspended, low_values=low_values)
                decisions.append((policy, decision))
            activity = self._act(resource_id, target, desired, decisions, now,
                                 all_due=len(decisions) == len(policies))
            if activity is not None:
                started.append(activity)
        return started

    def _period_of(self, metric: MetricSpec) -> float:
        return self.high_resolution_s if metric.high_resolution else self.period_s

    def _minute_group(self, metric: MetricSpec) -> int:
        """How many datapoints make one standard minute for AlarmLow (1: the metric's own)."""
        if not metric.high_resolution:
            return 1
        return max(1, round(STANDARD_PERIOD_S / self.high_resolution_s))

    def _cooldown(self, seconds: float | None) -> float:
        return self.default_cooldown_s if seconds is None else seconds

    def _act(self, resource_id: str, target: ScalableTarget, desired: int,
             decisions: list[tuple[Policy, Decision]], now: float,
             all_due: bool = True) -> Activity | None:
        # Several policies: scale out if any asks to (the largest wins), scale in only if all do
        # (so not while a standard policy waits for its minute: ``all_due``).
        outs = [(p, d) for p, d in decisions if d.action == SCALE_OUT]
        ins = [(p, d) for p, d in decisions if d.action == SCALE_IN]
        if outs:
            policy, decision = max(outs, key=lambda pd: pd[1].capacity or 0)
            alarm = policy.alarm_high
        elif ins and len(ins) == len(decisions) and all_due:
            policy, decision = max(ins, key=lambda pd: pd[1].capacity or 0)
            alarm = policy.alarm_low
        else:
            return self._not_scaled(resource_id, target, desired, decisions, now)
        self._last_not_scaled[resource_id] = None
        assert decision.capacity is not None and decision.action is not None
        cause = f"monitor alarm {alarm} in state ALARM triggered policy {policy.name}"
        return self._scale(resource_id, decision.capacity, desired, now, cause, decision.action)

    def _not_scaled(self, resource_id: str, target: ScalableTarget, desired: int,
                    decisions: list[tuple[Policy, Decision]], now: float) -> Activity | None:
        fired = [(p, d) for p, d in decisions if d.not_scaled]
        if not fired:
            return None
        policy, decision = fired[0]
        reason = decision.not_scaled
        alarm = policy.alarm_high if decision.alarm == "high" else policy.alarm_low
        details: dict[str, Any] = {"Code": reason}
        if reason == "AlreadyAtMaxCapacity":
            details["MaxCapacity"] = target.max_capacity
        elif reason == "AlreadyAtMinCapacity":
            details["MinCapacity"] = target.min_capacity
        else:
            details["CurrentCapacity"] = desired
        return self._record_not_scaled(
            resource_id, f"monitor alarm {alarm} in state ALARM triggered policy {policy.name}",
            now, details)

    def _record_not_scaled(self, resource_id: str, cause: str, now: float,
                           details: dict[str, Any]) -> Activity | None:
        # One not-scaled activity per episode, not one per period while the alarm stays on.
        if self._last_not_scaled.get(resource_id) == details["Code"]:
            return None
        self._last_not_scaled[resource_id] = details["Code"]
        activity = Activity(
            str(uuid.uuid4()), resource_id, "Attempting to scale due to alarm triggered", cause,
            now, FAILED, end=now, not_scaled_reasons=[details])
        self.activities.append(activity)
        return activity

    def _scale(self, resource_id: str, capacity: int, desired: int, now: float, cause: str,
               direction: str, cooldown: bool = True) -> Activity:
        """Start an activity; ``cooldown`` is False for changes of min/max, which start none."""
        for earlier in self.activities:
            if earlier.resource_id == resource_id and earlier.status in (PENDING, IN_PROGRESS):
                earlier.status = OVERRIDDEN
                earlier.end = now
                earlier.status_message = (f"Desired instance count was updated to {capacity} "
                                          "by a newer scaling event.")
        activity = Activity(str(uuid.uuid4()), resource_id,
                            f"Setting desired {_unit(resource_id)} count to {capacity}.", cause,
                            now, PENDING, desired=capacity,
                            direction=direction if cooldown else None)
        self.activities.append(activity)
        cooldowns = self.cooldowns.setdefault(resource_id, Cooldowns())
        if cooldown and direction == SCALE_OUT:
            if not cooldowns.scale_out_cooling(now, self._out_cooldown(resource_id)):
                cooldowns.out_from = desired
            cooldowns.out_started, cooldowns.out_ended = now, None
            # AWS: a scale-out during a scale-in cooldown ends that cooldown.
            cooldowns.in_started = cooldowns.in_ended = None
        elif cooldown:
            cooldowns.in_started, cooldowns.in_ended = now, None
        self.actuator.set_desired(resource_id, capacity, now)
        activity.status = IN_PROGRESS  # the sandbox's endpoint accepts every update at once
        return activity

    def _out_cooldown(self, resource_id: str) -> float:
        cooldowns = [self._cooldown(p.scale_out_cooldown)
                     for (r, _), p in self.policies.items() if r == resource_id]
        return max(cooldowns, default=self.default_cooldown_s)

    def update_finished(self, resource_id: str, now: float) -> None:
        """The variant reached its desired count: running activities succeed, cooldowns start."""
        cooldowns = self.cooldowns.get(resource_id)
        for activity in self.activities:
            if activity.resource_id != resource_id or activity.status != IN_PROGRESS:
                continue
            activity.status = SUCCESSFUL
            activity.end = now
            activity.status_message = (f"Successfully set desired {_unit(resource_id)} count "
                                       f"to {activity.desired}. Change successfully fulfilled "
                                       "by sagemaker.")
            if cooldowns is not None:
                if activity.direction == SCALE_OUT and cooldowns.out_ended is None:
                    cooldowns.out_ended = now
                elif activity.direction == SCALE_IN and cooldowns.in_ended is None:
                    cooldowns.in_ended = now
        if cooldowns is not None:
            # An overridden activity's update also ended now.
            if cooldowns.out_started is not None and cooldowns.out_ended is None:
                cooldowns.out_ended = now
            if cooldowns.in_started is not None and cooldowns.in_ended is None:
                cooldowns.in_ended = now


def _unit(resource_id: str) -> str:
    return "copy" if resource_id.startswith(COMPONENT_PREFIX) else "instance"


def _step_for(steps: list[dict[str, Any]], breach: float) -> dict[str, Any] | None:
    """The step whose [lower, upper) interval, relative to the threshold, holds ``breach``."""
    for step in steps:
        lower = step.get("MetricIntervalLowerBound")
        upper = step.get("MetricIntervalUpperBound")
        if (lower is None or breach >= lower) and (upper is None or breach < upper):
            return step
    return None


def _adjusted(capacity: int, adjustment: int, config: dict[str, Any]) -> int:
    kind = config.get("AdjustmentType")
    if kind == "ExactCapacity":
        return adjustment
    if kind == "PercentChangeInCapacity":
        change = int(capacity * adjustment / 100)
        magnitude = int(config.get("MinAdjustmentMagnitude") or 0)
        if magnitude and abs(change) < magnitude:
            change = magnitude if adjustment > 0 else -magnitude
        return capacity + change
    return capacity + adjustment

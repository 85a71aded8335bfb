"""A candidate scaling policy, as the API calls that put it in force, and as a profile block.

Target tracking: one policy on a metric with a target and cooldowns. Step scaling: two
StepScaling policies run by two CloudWatch alarms on InvocationsPerInstance (above the
threshold for 3 periods: add ``step_adjustment`` instances; below half of it for 15: remove
one), the way target tracking's own alarms look. ``calls`` are the Application Auto Scaling
and CloudWatch requests, in order, that the virtual run sends to the sandbox's own handlers and
``aas_json`` prints for the user: the same requests. ``{arn:NAME}`` in an alarm's actions
stands for the ARN that ``PutScalingPolicy`` NAME returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

INVOCATIONS = "InvocationsPerInstance"
CONCURRENCY = "ConcurrentRequestsPerModel"
# metric -> (predefined metric type, the profile's ``scaling.metric`` word)
METRICS: dict[str, tuple[str, str]] = {
    INVOCATIONS: ("SageMakerVariantInvocationsPerInstance", "invocations"),
    CONCURRENCY: ("SageMakerVariantConcurrentRequestsPerModelHighResolution", "concurrency"),
}
TARGET = "target tracking"
STEP = "step"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
OUT_PERIODS, IN_PERIODS, IN_FRACTION = 3, 15, 0.5

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    metric: str  # INVOCATIONS (per instance per minute) or CONCURRENCY (in flight per model)
    target: float  # the target value, or for a step policy its threshold (per minute)
    min_capacity: int = 1
    max_capacity: int = 4
    scale_out_cooldown_s: float = 300.0
    scale_in_cooldown_s: float = 300.0
    disable_scale_in: bool = False
    kind: str = TARGET
    step_adjustment: int = 1  # instances a breach of the step threshold adds

    @property
    def label(self) -> str:
        bounds = (f"{self.min_capacity}-{self.max_capacity}, cooldown out "
                  f"{self.scale_out_cooldown_s:g}s in {self.scale_in_cooldown_s:g}s")
        if self.kind == STEP:
            return f"step +{self.step_adjustment} over {self.target:g}/inst/min, {bounds}"
        unit = "/inst/min" if self.metric == INVOCATIONS else " in flight"
        short = "IPI" if self.metric == INVOCATIONS else "CRPM"
        return f"{short} {self.target:g}{unit}, {bounds}"

    def configuration(self) -> dict[str, Any]:
        """TargetTrackingScalingPolicyConfiguration, as PutScalingPolicy takes it."""
        return {
            "TargetValue": float(self.target),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRICS[self.metric][0]},
            "ScaleOutCooldown": int(self.scale_out_cooldown_s),
            "ScaleInCooldown": int(self.scale_in_cooldown_s),
            "DisableScaleIn": self.disable_scale_in,
        }

    def calls(self, endpoint: str, variant: str, period_s: float) -> list[Call]:
        """The requests that put this policy in force on ``endpoint``'s ``variant``."""
        resource = f"endpoint/{endpoint}/variant/{variant}"
        target = {"ServiceNamespace": "sagemaker", "ResourceId": resource,
                  "ScalableDimension": DIMENSION}
        calls: list[Call] = [("RegisterScalableTarget", {
            **target, "MinCapacity": self.min_capacity, "MaxCapacity": self.max_capacity})]
        if self.kind == TARGET:
            calls.append(("PutScalingPolicy", {
                **target, "PolicyName": "loadwatch-target-tracking",
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": self.configuration()}))
            return calls
        period = int(period_s)
        per_period = self.target * period / 60.0  # the alarm sees the period's Sum
        dimensions = [{"Name": "EndpointName", "Value": endpoint},
                      {"Name": "VariantName", "Value": variant}]
        for name, cooldown, step in (
                ("loadwatch-step-out", self.scale_out_cooldown_s,
                 {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": self.step_adjustment}),
                ("loadwatch-step-in", self.scale_in_cooldown_s,
                 {"MetricIntervalUpperBound": 0.0, "ScalingAdjustment": -1})):
            calls.append(("PutScalingPolicy", {
                **target, "PolicyName": name, "PolicyType": "StepScaling",
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity", "Cooldown": int(cooldown),
                    "MetricAggregationType": "Average", "StepAdjustments": [step]}}))
        for name, threshold, comparison, periods, policy in (
                ("loadwatch-step-high", per_period, "GreaterThanThreshold", OUT_PERIODS,
                 "loadwatch-step-out"),
                ("loadwatch-step-low", per_period * IN_FRACTION, "LessThanThreshold",
                 IN_PERIODS, "loadwatch-step-in")):
            if policy == "loadwatch-step-in" and self.disable_scale_in:
                continue
            calls.append(("PutMetricAlarm", {
                "AlarmName": name, "Namespace": "AWS/SageMaker",
                "MetricName": "InvocationsPerInstance", "Dimensions": dimensions,
                "Statistic": "Sum", "Period": period, "EvaluationPeriods": periods,
                "DatapointsToAlarm": periods, "Threshold": round(threshold, 3),
                "ComparisonOperator": comparison, "AlarmActions": [f"{{arn:{policy}}}"]}))
        return calls

    def aas_json(self, endpoint: str = "ENDPOINT", variant: str = "AllTraffic",
                 period_s: float = 60.0) -> str:
        """The requests of ``calls``, as JSON for the AWS CLI or an SDK."""
        return json.dumps([{"operation": op, "input": params}
                           for op, params in self.calls(endpoint, variant, period_s)], indent=2)

    def scaling_block(self) -> str | None:
        """The profile's ``scaling:`` section for this policy (None: a step policy, which the
        profile cannot express)."""
        if self.kind == STEP:
            return None
        lines = ["scaling:", "  enabled: true", f"  metric: {METRICS[self.metric][1]}",
                 f"  min: {self.min_capacity}", f"  max: {self.max_capacity}",
                 f"  target: {self.target:g}",
                 f"  scaleOutCooldown: {self.scale_out_cooldown_s:g}s",
                 f"  scaleInCooldown: {self.scale_in_cooldown_s:g}s"]
        if self.disable_scale_in:
            lines.append("  disableScaleIn: true")
        return "\n".join(lines)

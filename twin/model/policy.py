"""A candidate scaling policy: what the sandbox's autoscaler is given, and how it is written out.

One target tracking policy (the metric, its target, cooldowns) with the scalable target's
min and max. ``configuration`` is the ``TargetTrackingScalingPolicyConfiguration`` that
Application Auto Scaling takes (and the sandbox's autoscaler, the same code, is given);
``scaling_block`` is the profile's ``scaling:`` section that sets it.
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


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    metric: str  # INVOCATIONS (per instance per minute) or CONCURRENCY (in flight per model)
    target: float
    min_capacity: int = 1
    max_capacity: int = 4
    scale_out_cooldown_s: float = 300.0
    scale_in_cooldown_s: float = 300.0
    disable_scale_in: bool = False

    @property
    def label(self) -> str:
        unit = "/inst/min" if self.metric == INVOCATIONS else " in flight"
        return (f"{'IPI' if self.metric == INVOCATIONS else 'CRPM'} {self.target:g}{unit}, "
                f"{self.min_capacity}-{self.max_capacity}, cooldown out "
                f"{self.scale_out_cooldown_s:g}s in {self.scale_in_cooldown_s:g}s")

    def configuration(self) -> dict[str, Any]:
        """TargetTrackingScalingPolicyConfiguration, as PutScalingPolicy takes it."""
        return {
            "TargetValue": float(self.target),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRICS[self.metric][0]},
            "ScaleOutCooldown": int(self.scale_out_cooldown_s),
            "ScaleInCooldown": int(self.scale_in_cooldown_s),
            "DisableScaleIn": self.disable_scale_in,
        }

    def aas_json(self, endpoint: str = "ENDPOINT", variant: str = "AllTraffic") -> str:
        """RegisterScalableTarget and PutScalingPolicy inputs, as `aws` CLI JSON."""
        resource = f"endpoint/{endpoint}/variant/{variant}"
        document = {
            "RegisterScalableTarget": {
                "ServiceNamespace": "sagemaker", "ResourceId": resource,
                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                "MinCapacity": self.min_capacity, "MaxCapacity": self.max_capacity},
            "PutScalingPolicy": {
                "PolicyName": "loadwatch-target-tracking", "ServiceNamespace": "sagemaker",
                "ResourceId": resource,
                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": self.configuration()},
        }
        return json.dumps(document, indent=2)

    def scaling_block(self) -> str:
        """The profile's ``scaling:`` section for this policy."""
        lines = ["scaling:", "  enabled: true", f"  metric: {METRICS[self.metric][1]}",
                 f"  min: {self.min_capacity}", f"  max: {self.max_capacity}",
                 f"  target: {self.target:g}",
                 f"  scaleOutCooldown: {self.scale_out_cooldown_s:g}s",
                 f"  scaleInCooldown: {self.scale_in_cooldown_s:g}s"]
        if self.disable_scale_in:
            lines.append("  disableScaleIn: true")
        return "\n".join(lines)

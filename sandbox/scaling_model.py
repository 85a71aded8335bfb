"""What Application Auto Scaling keeps for SageMaker variants and inference components.

The data the autoscaler (sandbox/autoscaler.py) works on, the ``Actuator`` it acts through
(the simulation), and how a policy's configuration becomes the ``MetricSpec`` it tracks.
Split from the autoscaler so that each file stays readable on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import AwsError, validation
from sandbox.metricstore import BASIC_STATISTICS

SERVICE_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
COMPONENT_PREFIX = "inference-component/"
PREDEFINED_METRIC = "SageMakerVariantInvocationsPerInstance"
CONCURRENCY_METRIC = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
COPY_METRIC = "SageMakerInferenceComponentInvocationsPerCopy"
COPY_CONCURRENCY_METRIC = "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
TARGET_TRACKING = "TargetTrackingScaling"
STEP_SCALING = "StepScaling"
STANDARD_PERIOD_S = 60  # a standard metric's period, the pace high-resolution policies scale in

# Activity status codes.
PENDING = "Pending"
IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"
OVERRIDDEN = "Overridden"
FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """The CloudWatch series and statistic a policy tracks."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    high_resolution: bool = False


@dataclass(slots=True)
class ScalableTarget:
    resource_id: str
    min_capacity: int
    max_capacity: int
    role_arn: str
    arn: str
    created: float
    scale_in_suspended: bool = False
    scale_out_suspended: bool = False
    scheduled_suspended: bool = False


@dataclass(slots=True)
class Policy:
    """A scaling policy; a step scaling one has no metric of its own (its alarms have) and
    keeps its StepScalingPolicyConfiguration in ``configuration``."""

    name: str
    arn: str
    resource_id: str
    created: float
    target_value: float
    metric: MetricSpec | None
    scale_out_cooldown: float | None
    scale_in_cooldown: float | None
    disable_scale_in: bool
    configuration: dict[str, Any]  # as given, for DescribeScalingPolicies
    alarms: list[dict[str, str]]
    policy_type: str = TARGET_TRACKING

    @property
    def alarm_high(self) -> str:
        return self.alarms[0]["AlarmName"]

    @property
    def alarm_low(self) -> str:
        return self.alarms[1]["AlarmName"]


@dataclass(slots=True)
class Activity:
    activity_id: str
    resource_id: str
    description: str
    cause: str
    start: float
    status: str
    end: float | None = None
    status_message: str | None = None
    desired: int | None = None
    direction: str | None = None
    not_scaled_reasons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def not_scaled(self) -> bool:
        return bool(self.not_scaled_reasons)


class Actuator:
    """What the autoscaler acts on: the endpoint's variants. Implemented by the simulation."""

    def desired(self, resource_id: str) -> int | None:  # None: no such variant
        raise NotImplementedError

    def set_desired(self, resource_id: str, capacity: int, now: float) -> None:
        raise NotImplementedError

    def metric(self, spec: MetricSpec, last_period_start: int, count: int,
               now: float, period: int | None = None) -> Sequence[float | None]:
        raise NotImplementedError


def dimension_of(resource_id: str) -> str:
    """The scalable dimension a SageMaker resource ID goes with."""
    return COPY_DIMENSION if resource_id.startswith(COMPONENT_PREFIX) else SCALABLE_DIMENSION


def no_target(resource_id: str) -> AwsError:
    return AwsError("ObjectNotFoundException",
                    f"No scalable target registered for service namespace: sagemaker, "
                    f"resource ID: {resource_id}, scalable dimension: "
                    f"{dimension_of(resource_id)}")


def seconds(value: object) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or value < 0:
        raise validation("Cooldowns must be non-negative whole seconds.")
    return float(value)


def metric_spec(configuration: dict[str, Any],
                 endpoint_dimensions: tuple[tuple[str, str], ...]) -> MetricSpec:
    predefined = configuration.get("PredefinedMetricSpecification")
    customized = configuration.get("CustomizedMetricSpecification")
    if bool(predefined) == bool(customized):
        raise validation("Exactly one of PredefinedMetricSpecification and "
                         "CustomizedMetricSpecification must be given.")
    if predefined:
        kind = predefined.get("PredefinedMetricType")
        component = dict(endpoint_dimensions).get("InferenceComponentName")
        if (kind in (COPY_METRIC, COPY_CONCURRENCY_METRIC)) != (component is not None):
            raise validation(f"The predefined metric type {kind!r} does not apply to this "
                             "scalable target: per-copy metrics go with inference components, "
                             "per-instance ones with variants.")
        if kind == COPY_METRIC:
            return MetricSpec("AWS/SageMaker", "InvocationsPerCopy", endpoint_dimensions, "Sum")
        if kind == COPY_CONCURRENCY_METRIC:
            return MetricSpec("AWS/SageMaker", "ConcurrentRequestsPerCopy", endpoint_dimensions,
                              "Average", high_resolution=True)
        if kind == CONCURRENCY_METRIC:
            return MetricSpec("AWS/SageMaker", "ConcurrentRequestsPerModel", endpoint_dimensions,
                              "Average", high_resolution=True)
        if kind != PREDEFINED_METRIC:
            raise validation(f"Unsupported predefined metric type {kind!r} for SageMaker; the "
                             f"sandbox supports {PREDEFINED_METRIC}, {CONCURRENCY_METRIC}, "
                             f"{COPY_METRIC} and {COPY_CONCURRENCY_METRIC}.")
        return MetricSpec("AWS/SageMaker", "InvocationsPerInstance", endpoint_dimensions, "Sum")
    if customized.get("Metrics"):
        raise validation("Metric math in CustomizedMetricSpecification.Metrics is not "
                         "supported by the sandbox; name one metric.")
    for key in ("MetricName", "Namespace", "Statistic"):
        if not customized.get(key):
            raise validation(f"CustomizedMetricSpecification.{key} is required.")
    if customized["Statistic"] not in BASIC_STATISTICS:
        raise validation(f"Unsupported statistic {customized['Statistic']!r}.")
    dimensions = tuple(sorted((d["Name"], d["Value"])
                              for d in customized.get("Dimensions") or []))
    return MetricSpec(customized["Namespace"], customized["MetricName"], dimensions,
                      customized["Statistic"])

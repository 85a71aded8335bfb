"""The endpoint poller: instance counts, the scaling policy in force and scaling activities.

Every ``interval`` seconds: DescribeEndpoint (DescribeEndpointConfig only when the endpoint's
configuration changes, for instance types) becomes an ``EndpointState``; the variant's
scalable target and policies (Application Auto Scaling) become a ``policy_in_force`` event
when they differ from what was seen last; each scaling activity becomes a ``ScalingActivity``
when first seen and again whenever it changes. Activities that ended before the session
started are history, not news, and are left out.

``ScalingConfig`` is the variant's scaling configuration as plain data; ``driver.aws.scaling``
saves one before a run and puts it back afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from metrics.aws_errors import error_message
from metrics.cloudwatch import aws_code
from metrics.records import EndpointState, Event, Record, ScalingActivity

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# An inference component scales its copies (Application Auto Scaling's ScalableDimension enum
# in botocore's application-autoscaling model; resource id inference-component/NAME).
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"
INVOCATIONS_PER_COPY = "SageMakerInferenceComponentInvocationsPerCopy"
CONCURRENCY_PER_COPY = "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
# The PutMetricAlarm fields of a DescribeAlarms MetricAlarm: what restore puts back.
ALARM_KEYS = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
              "InsufficientDataActions", "MetricName", "Namespace", "Statistic",
              "ExtendedStatistic", "Dimensions", "Period", "Unit", "EvaluationPeriods",
              "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
              "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")
POLICY_ACTION = "policy:"  # an alarm action naming a policy of the target, not its ARN
POLICY_CONFIG_KEYS = ("TargetTrackingScalingPolicyConfiguration",
                      "StepScalingPolicyConfiguration",
                      "PredictiveScalingPolicyConfiguration")
SUSPENDED_KEYS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended",
                  "ScheduledScalingSuspended")
ENABLED, SUSPENDED, NONE = "enabled", "suspended", "none"


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def component_resource_id(component: str) -> str:
    return f"inference-component/{component}"


def scalable(endpoint: str, variant: str, component: str | None = None) -> tuple[str, str]:
    """(resource id, scalable dimension) of a variant, or of the component when one is named."""
    if component:
        return component_resource_id(component), COPY_DIMENSION
    return resource_id(endpoint, variant), DIMENSION


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes become epoch seconds."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return value


@dataclass(frozen=True)
class ScalingConfig:
    """A variant's scaling configuration: its scalable target (or none) and its policies.

    ``target`` holds MinCapacity, MaxCapacity and SuspendedState; each policy holds
    PolicyName, PolicyType and its configuration, exactly as PutScalingPolicy takes them.
    ``alarms`` are the CloudWatch alarms that drive the step-scaling policies, as
    PutMetricAlarm takes them, with each action that names one of these policies written
    ``policy:NAME`` instead of its ARN: a re-created policy gets a new ARN, and restore points
    the alarm at it.
    """

    resource_id: str
    target: dict[str, Any] | None = None
    policies: tuple[dict[str, Any], ...] = ()
    dimension: str = DIMENSION
    alarms: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_responses(cls, resource: str, targets: list[dict[str, Any]],
                       policies: list[dict[str, Any]], dimension: str = DIMENSION,
                       alarms: list[dict[str, Any]] | None = None) -> ScalingConfig:
        target = None
        for found in targets:
            if found.get("ResourceId") == resource and \
                    found.get("ScalableDimension", dimension) == dimension:
                suspended = found.get("SuspendedState") or {}
                target = {"MinCapacity": found.get("MinCapacity"),
                          "MaxCapacity": found.get("MaxCapacity"),
                          "SuspendedState": {k: bool(suspended.get(k, False))
                                             for k in SUSPENDED_KEYS}}
        kept = []
        for policy in policies:
            entry = {"PolicyName": policy["PolicyName"], "PolicyType": policy["PolicyType"]}
            for key in POLICY_CONFIG_KEYS:
                if policy.get(key):
                    entry[key] = _plain(policy[key])
            kept.append(entry)
        kept.sort(key=lambda p: p["PolicyName"])
        arns = {p["PolicyARN"]: p["PolicyName"] for p in policies if p.get("PolicyARN")}
        found_alarms = [alarm_entry(a, arns) for a in alarms or ()]
        found_alarms.sort(key=lambda a: a["AlarmName"])
        return cls(resource, target, tuple(kept), dimension, tuple(found_alarms))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"resource_id": self.resource_id, "target": self.target,
                                "policies": [dict(p) for p in self.policies]}
        if self.dimension != DIMENSION:
            data["dimension"] = self.dimension
        if self.alarms:
            data["alarms"] = [dict(a) for a in self.alarms]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScalingConfig:
        return cls(data["resource_id"], data.get("target"),
                   tuple(data.get("policies") or ()), data.get("dimension") or DIMENSION,
                   tuple(data.get("alarms") or ()))

    @property
    def unit(self) -> str:
        return "copies" if self.dimension == COPY_DIMENSION else "instances"

    @property
    def suspended_state(self) -> dict[str, bool]:
        if self.target is None:
            return dict.fromkeys(SUSPENDED_KEYS, False)
        return dict(self.target.get("SuspendedState") or {})

    @property
    def mode(self) -> str:
        """enabled (dynamic scaling can act), suspended, or none (nothing registered)."""
        if self.target is None or not self.policies:
            return NONE
        state = self.suspended_state
        if state.get("DynamicScalingOutSuspended") and state.get("DynamicScalingInSuspended"):
            return SUSPENDED
        return ENABLED

    @property
    def min(self) -> int | None:
        return self.target.get("MinCapacity") if self.target else None

    @property
    def max(self) -> int | None:
        return self.target.get("MaxCapacity") if self.target else None

    def policy(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.policies if p["PolicyName"] == name), None)

    @property
    def target_value(self) -> float | None:
        """The target of the first target-tracking policy (invocations per instance/minute)."""
        for policy in self.policies:
            config = policy.get("TargetTrackingScalingPolicyConfiguration")
            if config:
                return config.get("TargetValue")
        return None

    def describe(self) -> str:
        """One line: 'target tracking 25000/instance/min, 1-4 instances, enabled'."""
        if self.target is None:
            what = "component" if self.dimension == COPY_DIMENSION else "variant"
            return f"no scaling: the {what} is not registered with Application Auto Scaling"
        capacity = f"{self.min}-{self.max} {self.unit}"
        if not self.policies:
            return f"no scaling policy ({capacity})"
        parts = []
        for policy in self.policies:
            config = policy.get("TargetTrackingScalingPolicyConfiguration")
            if config:
                metric = (config.get("PredefinedMetricSpecification") or {}).get(
                    "PredefinedMetricType", "a custom metric")
                per = {INVOCATIONS_PER_INSTANCE: "/instance/min",
                       INVOCATIONS_PER_COPY: "/copy/min",
                       CONCURRENCY_PER_COPY: " in flight/copy"}.get(metric, f" on {metric}")
                parts.append(f"target tracking {config.get('TargetValue'):g}{per}")
            else:
                alarms = [a["AlarmName"] for a in self.alarms
                          if POLICY_ACTION + policy["PolicyName"] in a.get("AlarmActions", ())]
                driven = f" (alarm {', '.join(alarms)})" if alarms else ""
                parts.append(f"{policy['PolicyType']} {policy['PolicyName']}{driven}")
        state = self.suspended_state
        if self.mode == SUSPENDED:
            status = "suspended"
        elif state.get("DynamicScalingOutSuspended"):
            status = "scale-out suspended"
        elif state.get("DynamicScalingInSuspended"):
            status = "scale-in suspended"
        else:
            status = "enabled"
        return f"{', '.join(parts)}, {capacity}, {status}"


def alarm_entry(alarm: dict[str, Any], policy_arns: dict[str, str]) -> dict[str, Any]:
    """A DescribeAlarms MetricAlarm as PutMetricAlarm takes it, policy ARNs named."""
    entry = {k: _plain(alarm[k]) for k in ALARM_KEYS if alarm.get(k) not in (None, [], "")}
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        if key in entry:
            entry[key] = [POLICY_ACTION + policy_arns[a] if a in policy_arns else a
                          for a in entry[key]]
    return entry


def read_scaling_config(client: Any, endpoint: str, variant: str, *,
                        component: str | None = None,
                        cloudwatch: Any | None = None) -> ScalingConfig:
    """The variant's (or the component's) scalable target and policies, and with a CloudWatch
    client the alarms driving its step policies (blocking; botocore errors propagate)."""
    resource, dimension = scalable(endpoint, variant, component)
    targets = client.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource],
        ScalableDimension=dimension).get("ScalableTargets", [])
    policies: list[dict[str, Any]] = []
    request: dict[str, Any] = {"ServiceNamespace": NAMESPACE, "ResourceId": resource,
                               "ScalableDimension": dimension}
    while True:
        response = client.describe_scaling_policies(**request)
        policies.extend(response.get("ScalingPolicies", []))
        if not response.get("NextToken"):
            break
        request["NextToken"] = response["NextToken"]
    # Only step policies' alarms are the user's: target tracking makes and owns its own.
    names = sorted({a["AlarmName"] for p in policies if p.get("PolicyType") == "StepScaling"
                    for a in p.get("Alarms") or () if a.get("AlarmName")})
    alarms: list[dict[str, Any]] = []
    if cloudwatch is not None and names:
        alarms = cloudwatch.describe_alarms(AlarmNames=names,
                                            AlarmTypes=["MetricAlarm"]).get("MetricAlarms", [])
    return ScalingConfig.from_responses(resource, targets, policies, dimension, alarms)


def activity_record(activity: dict[str, Any]) -> ScalingActivity:
    """An activity as a record; a not-scaled one (IncludeNotScaledActivities) says why in its
    status message ("not scaled: AlreadyAtMaxCapacity")."""
    end = activity.get("EndTime")
    message = activity.get("StatusMessage", "")
    reasons = [r.get("Code", "") for r in activity.get("NotScaledReasons") or ()]
    if reasons:
        message = "; ".join(m for m in (message, f"not scaled: {', '.join(reasons)}") if m)
    return ScalingActivity(
        t=activity["StartTime"].timestamp() if hasattr(activity["StartTime"], "timestamp")
        else float(activity["StartTime"]),
        activity_id=activity["ActivityId"],
        status=activity.get("StatusCode", ""),
        description=activity.get("Description", ""),
        cause=activity.get("Cause", ""),
        end=end.timestamp() if hasattr(end, "timestamp") else end,
        status_message=message,
    )


_UNFINISHED = ("Pending", "InProgress")
Sleep = Callable[[float], Awaitable[Any]]


@dataclass
class _Snapshot:
    endpoint: dict[str, Any] | None = None
    config_name: str | None = None  # set when the endpoint config was described
    instance_types: dict[str, str] = field(default_factory=dict)
    scaling: ScalingConfig | None = None
    component: dict[str, Any] | None = None  # DescribeInferenceComponent
    activities: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, BaseException] = field(default_factory=dict)


class EndpointPoller:
    """Polls an endpoint's state and its variant's scaling; emits records on change.

    ``autoscaling`` may be None (no permission, say): instance counts still come.
    ``on_scaling`` is called with each ScalingConfig read, so a scaling control can show the
    policy in force without asking AWS itself. With a ``component`` the scaling read is the
    component's (copies), each poll also describes the component, and its copy counts ride
    in ``EndpointState.components``; a change of copies is also an event (``copies_changed``).
    """

    def __init__(
        self,
        sagemaker: Any,
        autoscaling: Any | None,
        endpoint: str,
        variant: str,
        emit: Callable[[Record], None],
        *,
        interval: float = 10.0,
        since: float | None = None,
        clock: Callable[[], float] = time.time,
        elapsed: Callable[[], float] = lambda: 0.0,
        sleep: Sleep = asyncio.sleep,
        on_scaling: Callable[[ScalingConfig], None] | None = None,
        component: str | None = None,
        cloudwatch: Any | None = None,
    ) -> None:
        self.sagemaker = sagemaker
        self.autoscaling = autoscaling
        self.endpoint = endpoint
        self.variant = variant
        self.component = component
        self.cloudwatch = cloudwatch  # to read the alarms driving step policies
        self.resource_id, self.dimension = scalable(endpoint, variant, component)
        self.emit = emit
        self.interval = interval
        self.since = since
        self.clock = clock
        self.elapsed = elapsed
        self.sleep = sleep
        self.on_scaling = on_scaling
        self._config_name: str | None = None
        self._instance_types: dict[str, str] = {}
        self._scaling: ScalingConfig | None = None
        self._activities: dict[str, ScalingActivity] = {}
        self._failing: dict[str, str] = {}  # part -> error code last reported
        self._counts: dict[str, tuple[Any, Any]] = {}  # "copies"/"instances" -> last seen
        self.last_state: EndpointState | None = None

    def _read(self) -> _Snapshot:
        """Everything one poll needs, in one thread; each part fails on its own."""
        snap = _Snapshot()
        try:
            snap.endpoint = self.sagemaker.describe_endpoint(EndpointName=self.endpoint)
            name = snap.endpoint.get("EndpointConfigName")
            if name and name != self._config_name:
                config = self.sagemaker.describe_endpoint_config(EndpointConfigName=name)
                snap.config_name = name
                snap.instance_types = {v["VariantName"]: v.get("InstanceType", "")
                                       for v in config.get("ProductionVariants", [])}
        except (ClientError, BotoCoreError) as exc:
            snap.errors["endpoint"] = exc
        if self.component is not None:
            try:
                snap.component = self.sagemaker.describe_inference_component(
                    InferenceComponentName=self.component)
            except (ClientError, BotoCoreError) as exc:
                snap.errors["component"] = exc
        if self.autoscaling is not None:
            try:
                snap.scaling = read_scaling_config(self.autoscaling, self.endpoint, self.variant,
                                                   component=self.component,
                                                   cloudwatch=self.cloudwatch)
            except (ClientError, BotoCoreError) as exc:
                snap.errors["scaling"] = exc
            try:  # a narrow IAM role may read the policy but not the activities
                # Not-scaled activities too: "already at max capacity" is news to the operator.
                snap.activities = self.autoscaling.describe_scaling_activities(
                    ServiceNamespace=NAMESPACE, ResourceId=self.resource_id,
                    ScalableDimension=self.dimension,
                    IncludeNotScaledActivities=True).get("ScalingActivities", [])
            except (ClientError, BotoCoreError) as exc:
                snap.errors["activities"] = exc
        return snap

    async def poll(self) -> None:
        snap = await asyncio.to_thread(self._read)
        for part in ("endpoint", "component", "scaling", "activities"):
            self._report(part, snap.errors.get(part))
        # The causes before the state they led to: the activities were read after the state,
        # so a copy or instance the state shows in service has its activity in this poll or an
        # earlier one, and a reader of the stream (the cold-start tracker) sees it first.
        if snap.scaling is not None:
            self._scaling_config(snap.scaling)
        for activity in reversed(snap.activities):  # AWS lists newest first
            self._activity(activity_record(activity))
        if snap.endpoint is not None:
            self._endpoint_state(snap)

    def _endpoint_state(self, snap: _Snapshot) -> None:
        described = snap.endpoint or {}
        if snap.config_name is not None:
            self._config_name = snap.config_name
            self._instance_types = snap.instance_types
        variants = [{
            "name": v.get("VariantName"),
            "current": v.get("CurrentInstanceCount"),
            "desired": v.get("DesiredInstanceCount"),
            "instance_type": self._instance_types.get(v.get("VariantName", "")),
        } for v in described.get("ProductionVariants", [])]
        components = []
        if snap.component is not None:
            runtime = snap.component.get("RuntimeConfig") or {}
            components.append({"name": self.component,
                               "current": runtime.get("CurrentCopyCount"),
                               "desired": runtime.get("DesiredCopyCount"),
                               "status": snap.component.get("InferenceComponentStatus")})
        state = EndpointState(t=self.clock(), elapsed=self.elapsed(), endpoint=self.endpoint,
                              status=described.get("EndpointStatus", "Unknown"),
                              variants=variants, components=components)
        self.last_state = state
        self.emit(state)
        if components:  # instance changes show from the state itself; copies say so here
            self._count_changed("copies", components[0])

    def _count_changed(self, unit: str, entry: dict[str, Any]) -> None:
        """An event when copies change: current or desired (0 is a count)."""
        counts = (entry.get("current"), entry.get("desired"))
        before = self._counts.get(unit)
        self._counts[unit] = counts
        if before is None or before == counts:
            return
        self._event("endpoint", f"{unit}_changed",
                    f"{unit} {before[0]}/{before[1]} -> {counts[0]}/{counts[1]} "
                    "(current/desired)", unit=unit, current=counts[0], desired=counts[1],
                    before_current=before[0], before_desired=before[1])

    def _scaling_config(self, config: ScalingConfig) -> None:
        if self.on_scaling is not None:
            self.on_scaling(config)
        if config != self._scaling:
            self._scaling = config
            self._event("scaling", "policy_in_force", f"scaling in force: {config.describe()}",
                        **config.to_dict(), mode=config.mode)

    def _activity(self, record: ScalingActivity) -> None:
        known = self._activities.get(record.activity_id)
        if known is None:
            old = self.since is not None and record.t < self.since and \
                record.status not in _UNFINISHED
            if old:
                return
        elif (known.status, known.end, known.status_message) == (
                record.status, record.end, record.status_message):
            return
        self._activities[record.activity_id] = record
        self.emit(record)

    def _report(self, part: str, exc: BaseException | None) -> None:
        if exc is None:
            if self._failing.pop(part, None) is not None:
                self._event("poller", "poll_recovered", f"{part} polling answers again",
                            part=part)
            return
        code = aws_code(exc)
        if self._failing.get(part) == code:
            return
        self._failing[part] = code
        message = error_message(exc)
        self._event("poller", "poll_failed",
                    f"{part} poll failed ({code}): {' '.join(message.split())[:200]}",
                    part=part, code=code)

    def _event(self, source: str, name: str, message: str, **data: Any) -> None:
        self.emit(Event(t=self.clock(), elapsed=self.elapsed(), source=source, name=name,
                        message=message, data=data))

    async def run(self) -> None:
        """Poll every ``interval`` seconds until cancelled; never overlapping."""
        while True:
            await self.poll()
            await self.sleep(self.interval)

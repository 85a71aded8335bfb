"""Scaling control: switch a variant's autoscaling on and off, and put back what was there.

Enable registers the variant as a scalable target (min, max; dynamic scaling un-suspended)
and puts a target-tracking policy on SageMakerVariantInvocationsPerInstance with the
profile's ``scaling:`` values. Disable suspends dynamic scaling (``SuspendedState``) and keeps
the policies, or, with ``disableMode: delete``, deletes every policy of the variant. Either
way the configuration found before the run is saved first and restored at exit (Ctrl-C
included) unless the operator asked to keep the change.

The instance count is part of what is restored: when the run changed scaling and the variant
runs a different number of instances than at the start, ``UpdateEndpointWeightsAndCapacities``
puts the count back (after the policies, so none of them scales it out again), unless the
operator asked to keep the instances; then the line says what they cost per hour. An endpoint
update takes minutes (AWS: "Updating" until the new instances pass health checks), so restore
waits up to ``INSTANCE_WAIT_S`` for it; a count of 0 is a count, never "unknown".

With an inference component (``component``) everything acts on ``inference-component/NAME``
and ``sagemaker:inference-component:DesiredCopyCount``: target tracking on
SageMakerInferenceComponentInvocationsPerCopy or ...ConcurrentRequestsPerCopyHighResolution,
MinCapacity 0 allowed, and with ``scaling.scaleFromZero`` the pair AWS documents for scaling
from zero ("Scale an endpoint to zero instances", SageMaker developer guide): a step-scaling
policy (ChangeInCapacity +1) and a CloudWatch alarm on NoCapacityInvocationFailures (Sum >= 1
over one period, dimension InferenceComponentName) whose action is that policy. Restore puts
back policies, then alarms (pointed at the policies' ARNs as they are now: a re-created step
policy has a new ARN), then the copy count (UpdateInferenceComponentRuntimeConfig), and reads
all three back to verify.

The actions never raise: each returns the one line to show and emits an event (source
``scaling``); a failure says what AWS answered, with its code, and is kept in
``last_error``. boto3 runs in a thread so the event loop (and the UI) never waits on AWS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driver.aws.clients import AwsError, as_aws_error
from driver.aws.components import set_copy_count
from driver.aws.prices import cost_per_hour
from driver.profile import ScalingOptions
from metrics.endpoint import (
    CONCURRENCY_PER_COPY,
    ENABLED,
    INVOCATIONS_PER_COPY,
    INVOCATIONS_PER_INSTANCE,
    NAMESPACE,
    NONE,
    POLICY_ACTION,
    SUSPENDED,
    ScalingConfig,
    read_scaling_config,
    scalable,
)

# scaling.metric -> the predefined metric a target-tracking policy tracks. ``concurrency`` is
# the high-resolution (10 s) ConcurrentRequestsPerModel, queued requests and open streams
# included: the one for LLM endpoints.
CONCURRENCY_PER_MODEL = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
POLICY_METRICS = {"invocations": INVOCATIONS_PER_INSTANCE, "concurrency": CONCURRENCY_PER_MODEL}
# The same words on an inference component: per copy.
COPY_POLICY_METRICS = {"invocations": INVOCATIONS_PER_COPY, "invocations-per-copy":
                       INVOCATIONS_PER_COPY, "concurrency": CONCURRENCY_PER_COPY,
                       "concurrency-per-copy": CONCURRENCY_PER_COPY}
PER_COPY_METRICS = ("invocations-per-copy", "concurrency-per-copy")

ACTIONS = ("enable", "disable", "restore")
# How long restore waits for an endpoint (or component) that is still Updating before it sets
# the count, and then for the update it asked for: endpoint updates take minutes on AWS.
INSTANCE_WAIT_S = 20 * 60.0
INSTANCE_POLL_S = 2.0
# The scale-from-zero pair's names and numbers (AWS's documented example: +1 copy when the
# alarm fires; the alarm: NoCapacityInvocationFailures Sum >= 1 in one 60 s period).
FROM_ZERO_POLICY = "loadwatch-scale-from-zero"
FROM_ZERO_PERIOD_S = 60
FROM_ZERO_COOLDOWN_S = 60
EventSink = Callable[..., Any]  # (name, message, **data)


@dataclass(frozen=True, slots=True)
class ScalingState:
    """What the UI shows: the mode in force and the numbers that matter."""

    mode: str  # enabled | suspended | none | unknown
    min: int | None = None
    max: int | None = None
    target: float | None = None  # invocations per instance per minute
    detail: str = "scaling not read yet"
    changed: bool = False  # loadwatch changed it during this run
    unit: str = "/min"  # of target: " in flight" for a concurrency policy
    capacity_unit: str = "instances"  # copies for an inference component

    @classmethod
    def of(cls, config: ScalingConfig, changed: bool = False) -> ScalingState:
        """The state a configuration shows, its target in the policy's own unit."""
        detail = config.describe()
        unit = (" in flight" if "ConcurrentRequests" in detail or "in flight/copy" in detail
                else "/copy/min" if "/copy/min" in detail else "/min")
        return cls(config.mode, config.min, config.max, config.target_value, detail, changed,
                   unit, config.unit)

    def label(self) -> str:
        if self.mode == ENABLED:
            target = f", target {self.target:g}{self.unit}" if self.target is not None else ""
            return f"scaling on: {self.min}-{self.max} {self.capacity_unit}{target}"
        if self.mode == SUSPENDED:
            return f"scaling suspended ({self.min}-{self.max} {self.capacity_unit})"
        if self.mode == NONE:
            return "scaling off"
        return "scaling unknown"


def _seconds(value: float) -> int:
    return round(value)


class ScalingControl:
    """Enable, disable and restore one endpoint variant's (or inference component's) scaling.

    ``cloudwatch`` is needed for the alarms of step-scaling policies (scale from zero): without
    it alarms are neither read, saved nor restored.
    """

    def __init__(self, client: Any, endpoint: str, variant: str,
                 options: ScalingOptions | None = None, *, event: EventSink | None = None,
                 sagemaker: Any | None = None, component: str | None = None,
                 cloudwatch: Any | None = None) -> None:
        self.client = client
        self.endpoint = endpoint
        self.variant = variant
        self.component = component
        self.cloudwatch = cloudwatch
        self.resource_id, self.dimension = scalable(endpoint, variant, component)
        self.unit = "copies" if component else "instances"
        # The scale-from-zero alarm's period: the endpoint's metric publish period when it
        # publishes faster than every minute (MetricsConfig), else AWS's example's 60 s.
        self.alarm_period_s = FROM_ZERO_PERIOD_S
        self.counted = "copies" if component else "instance(s)"  # "4 instance(s)", "0 copies"
        self.options = options or ScalingOptions()
        self.event = event
        self.sagemaker = sagemaker  # to report instance counts left over at restore
        self.saved: ScalingConfig | None = None
        self.saved_instances: int | None = None
        self.instance_type: str | None = None  # to say what instances left running cost
        self.keep_instances = False  # restore the policies but leave the instance count
        self.instance_wait_s = INSTANCE_WAIT_S
        self.current: ScalingConfig | None = None
        self.changed = False
        self.keep_at_exit = False  # leave loadwatch's changes in place when the run ends
        self.last_error: AwsError | None = None
        self._lock = asyncio.Lock()

    # --- reading -------------------------------------------------------------------------

    def read(self) -> ScalingConfig:
        """The configuration in force now (blocking; raises AwsError)."""
        try:
            config = read_scaling_config(self.client, self.endpoint, self.variant,
                                         component=self.component, cloudwatch=self.cloudwatch)
        except Exception as exc:
            raise as_aws_error(exc, "reading the scaling configuration") from exc
        self.current = config
        return config

    def save(self, instances: int | None = None,
             instance_type: str | None = None) -> ScalingConfig:
        """Read and keep the configuration to restore at exit (blocking; raises AwsError)."""
        self.saved = self.read()
        self.saved_instances = instances
        self.instance_type = instance_type
        return self.saved

    def observe(self, config: ScalingConfig) -> None:
        """A configuration read by someone else (the endpoint poller): keeps ``state`` fresh."""
        self.current = config

    def announce_saved(self) -> None:
        """Put the saved configuration into the record stream (and so the recording)."""
        if self.saved is not None:
            self._emit("scaling_saved", f"scaling before the run: {self.saved.describe()}",
                       saved=self.saved.to_dict(), instances=self.saved_instances,
                       instance_type=self.instance_type)

    @property
    def state(self) -> ScalingState:
        config = self.current
        if config is None:
            return ScalingState("unknown", changed=self.changed)
        return ScalingState.of(config, self.changed)

    # --- what an action would do ---------------------------------------------------------

    def policy_metric(self) -> str:
        """The predefined metric the profile's ``scaling.metric`` means on this target."""
        if self.component:
            return COPY_POLICY_METRICS.get(self.options.metric, INVOCATIONS_PER_COPY)
        return POLICY_METRICS.get(self.options.metric, INVOCATIONS_PER_INSTANCE)

    def check_options(self) -> None:
        """AwsError (code BadScalingOption), one line naming the field, for options this
        target cannot take; nothing is sent."""
        o = self.options
        what = f"endpoint {self.endpoint} variant {self.variant}"
        if self.component is None:
            if o.metric in PER_COPY_METRICS:
                raise AwsError(f"scaling.metric {o.metric}: a per-copy metric needs an "
                               f"inference component, and {what} is scaled by instances; use "
                               "invocations or concurrency", "BadScalingOption")
            if o.enabled and o.min == 0:
                raise AwsError(f"scaling.min 0: only an inference component scales to zero; "
                               f"{what} needs at least 1 instance", "BadScalingOption")
            if o.scale_from_zero:
                raise AwsError("scaling.scaleFromZero: only an inference component scales from "
                               f"zero; {what} has no components (set "
                               "sagemaker.inferenceComponent)", "BadScalingOption")

    def _policy_config(self) -> dict[str, Any]:
        o = self.options
        metric = self.policy_metric()
        return {
            "TargetValue": float(o.target),
            "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
            "ScaleOutCooldown": _seconds(o.scale_out_cooldown),
            "ScaleInCooldown": _seconds(o.scale_in_cooldown),
            "DisableScaleIn": bool(o.disable_scale_in),
        }

    def describe_change(self, action: str) -> str:
        """One line saying what ``action`` (enable, disable, restore) would change."""
        now = self.current.describe() if self.current else "current scaling not read yet"
        o = self.options
        if action == "enable":
            scale_in = ", no scale-in" if o.disable_scale_in else ""
            unit = {CONCURRENCY_PER_MODEL: "requests in flight/model (high resolution)",
                    INVOCATIONS_PER_COPY: "invocations/copy/min",
                    CONCURRENCY_PER_COPY: "requests in flight/copy (high resolution)"}.get(
                self.policy_metric(), "invocations/instance/min")
            from_zero = (f", and scale from zero: step policy {FROM_ZERO_POLICY} on a "
                         "NoCapacityInvocationFailures alarm" if o.scale_from_zero else "")
            return (f"enable: {o.min}-{o.max} {self.unit}, target tracking {o.target:g} "
                    f"{unit} (cooldown out {o.scale_out_cooldown:g} s, in "
                    f"{o.scale_in_cooldown:g} s{scale_in}) as policy {o.policy_name}"
                    f"{from_zero}; now {now}")
        if action == "disable":
            if self.current is not None and self.current.target is None:
                return f"disable: nothing to do ({now})"
            if o.disable_mode == "delete":
                names = ", ".join(p["PolicyName"] for p in self.current.policies) \
                    if self.current else "every policy"
                owner = "component" if self.component else "variant"
                return (f"disable: delete the {owner}'s scaling policies ({names or 'none'}); "
                        f"restore puts them back; now {now}")
            return f"disable: suspend dynamic scale-out and scale-in, policies kept; now {now}"
        if action == "restore":
            if self.saved is None:
                return "restore: nothing was saved"
            if self.current is not None and self.current == self.saved:
                return f"restore: nothing to do, already as at start ({self.saved.describe()})"
            return f"restore: back to {self.saved.describe()}; now {now}"
        raise ValueError(f"unknown scaling action {action!r}; expected one of {ACTIONS}")

    # --- actions -------------------------------------------------------------------------

    async def enable(self) -> str:
        return await self._act("enable", self._enable)

    async def disable(self) -> str:
        return await self._act("disable", self._disable)

    async def restore(self) -> str:
        return await self._act("restore", self._restore)

    async def apply_profile(self) -> str | None:
        """Apply the profile's ``scaling.enabled`` (true: enable, false: disable, unset: none)."""
        if self.options.enabled is None:
            return None
        return await (self.enable() if self.options.enabled else self.disable())

    async def restore_at_exit(self) -> str | None:
        """The session clean-up: restore what loadwatch changed, unless ``keep_at_exit``."""
        if not self.changed:
            return None
        if self.keep_at_exit:
            extra = await asyncio.to_thread(self._extra_instances)
            more = (f"{extra[0] - extra[1]} copies" if extra and self.component
                    else cost_per_hour(self.instance_type, extra[0] - extra[1]) if extra else "")
            cost = (f"; {extra[0]} {self.counted} now, {self.saved_instances} at start: "
                    f"{more} more"
                    if extra and extra[0] > extra[1] else "")
            self._emit("scaling_kept", "scaling changes kept (--keep-scaling); saved "
                       f"configuration: {self.saved.describe() if self.saved else 'none'}"
                       f"{cost}", saved=self.saved.to_dict() if self.saved else None)
            return None
        return await self.restore()

    async def _act(self, action: str, work: Callable[[], str]) -> str:
        async with self._lock:
            before = self.current
            self.last_error = None  # the work may set it and still return its line
            try:
                message = await asyncio.to_thread(work)
            except Exception as exc:
                error = as_aws_error(exc, f"{action} scaling")
                self.last_error = error
                self._emit("scaling_failed", str(error), action=action, code=error.code)
                return str(error)
            after = self.current
            names = {"enable": "scaling_enabled", "disable": "scaling_disabled",
                     "restore": "scaling_restored"}
            self._emit(names[action], message, action=action,
                       before=before.to_dict() if before else None,
                       after=after.to_dict() if after else None)
            return message

    def _emit(self, name: str, message: str, **data: Any) -> None:
        if self.event is not None:
            self.event(name, message, **data)

    # --- the AWS calls (in a thread) -------------------------------------------------------

    def _target_args(self) -> dict[str, Any]:
        return {"ServiceNamespace": NAMESPACE, "ResourceId": self.resource_id,
                "ScalableDimension": self.dimension}

    def _ensure_saved(self) -> None:
        if self.saved is None:
            self.save()

    def _enable(self) -> str:
        self._ensure_saved()
        current = self.current or self.read()
        o = self.options
        suspended = dict(current.suspended_state)
        suspended["DynamicScalingInSuspended"] = False
        suspended["DynamicScalingOutSuspended"] = False
        self.changed = True
        self.client.register_scalable_target(**self._target_args(), MinCapacity=o.min,
                                             MaxCapacity=o.max, SuspendedState=suspended)
        self.client.put_scaling_policy(**self._target_args(), PolicyName=o.policy_name,
                                       PolicyType="TargetTrackingScaling",
                                       TargetTrackingScalingPolicyConfiguration=
                                       self._policy_config())
        if o.scale_from_zero and self.component:
            self._put_scale_from_zero()
        after = self.read()
        return f"scaling enabled: {after.describe()}"

    def from_zero_alarm_name(self) -> str:
        return f"{FROM_ZERO_POLICY}-{self.component}"

    def _put_scale_from_zero(self) -> None:
        """The step policy (+1 copy) and the alarm on NoCapacityInvocationFailures driving it."""
        arn = self.client.put_scaling_policy(
            **self._target_args(), PolicyName=FROM_ZERO_POLICY, PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Maximum",
                "Cooldown": FROM_ZERO_COOLDOWN_S,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]},
        )["PolicyARN"]
        self._require_cloudwatch().put_metric_alarm(
            AlarmName=self.from_zero_alarm_name(),
            AlarmDescription=f"loadwatch: scale {self.component} from zero copies",
            AlarmActions=[arn], MetricName="NoCapacityInvocationFailures",
            Namespace="AWS/SageMaker", Statistic="Sum", Period=int(self.alarm_period_s),
            EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="missing",
            Dimensions=[{"Name": "InferenceComponentName", "Value": self.component}])

    def _require_cloudwatch(self) -> Any:
        if self.cloudwatch is None:
            raise AwsError("a CloudWatch client is needed for scaling alarms", "NoCloudWatch")
        return self.cloudwatch

    def _disable(self) -> str:
        self._ensure_saved()
        current = self.read()
        if current.target is None:
            return f"scaling already off: {current.describe()}"
        self.changed = True
        if self.options.disable_mode == "delete":
            for policy in current.policies:
                self.client.delete_scaling_policy(**self._target_args(),
                                                  PolicyName=policy["PolicyName"])
            after = self.read()
            deleted = ", ".join(p["PolicyName"] for p in current.policies) or "none"
            return f"scaling disabled: deleted policies {deleted}; now {after.describe()}"
        suspended = dict(current.suspended_state)
        suspended["DynamicScalingInSuspended"] = True
        suspended["DynamicScalingOutSuspended"] = True
        self.client.register_scalable_target(**self._target_args(), SuspendedState=suspended)
        after = self.read()
        return f"scaling disabled: {after.describe()}"

    def _restore(self) -> str:
        saved = self.saved
        if saved is None:
            return "nothing to restore: no configuration was saved"
        current = self.read()
        if current == saved:
            self.changed = False
            return f"scaling as at start: {saved.describe()}{self._restore_instances()}"
        if saved.target is None:
            # AWS deletes a target's policies when it is deregistered; deleting them first
            # does no harm there and keeps implementations that do not (moto) honest.
            for policy in current.policies:
                self.client.delete_scaling_policy(**self._target_args(),
                                                  PolicyName=policy["PolicyName"])
            if current.target is not None:
                self.client.deregister_scalable_target(**self._target_args())
            self._restore_alarms(saved, current, {})
        else:
            target = saved.target
            self.client.register_scalable_target(
                **self._target_args(), MinCapacity=target["MinCapacity"],
                MaxCapacity=target["MaxCapacity"], SuspendedState=target["SuspendedState"])
            wanted = {p["PolicyName"]: p for p in saved.policies}
            for policy in current.policies:
                if policy["PolicyName"] not in wanted:
                    self.client.delete_scaling_policy(**self._target_args(),
                                                      PolicyName=policy["PolicyName"])
            arns: dict[str, str] = {}
            for name, policy in wanted.items():
                if current.policy(name) != policy or saved.alarms:
                    arns[name] = self.client.put_scaling_policy(
                        **self._target_args(), **policy).get("PolicyARN", "")
            self._restore_alarms(saved, current, arns)
        after = self.read()
        if after != saved:
            return (f"scaling restore incomplete: now {after.describe()}, saved "
                    f"{saved.describe()}")
        self.changed = False
        return f"scaling restored: {after.describe()}{self._restore_instances()}"

    def _restore_alarms(self, saved: ScalingConfig, current: ScalingConfig,
                        arns: dict[str, str]) -> None:
        """Put back the saved alarms, each action naming a policy pointed at its ARN now;
        delete the alarms loadwatch added that were not there at the start."""
        if not saved.alarms and not current.alarms:
            return
        cloudwatch = self._require_cloudwatch()
        for alarm in saved.alarms:
            put = dict(alarm)
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                if key in put:
                    put[key] = [arns.get(a[len(POLICY_ACTION):], a)
                                if a.startswith(POLICY_ACTION) else a for a in put[key]]
            cloudwatch.put_metric_alarm(**put)
        kept = {a["AlarmName"] for a in saved.alarms}
        extra = [a["AlarmName"] for a in current.alarms if a["AlarmName"] not in kept]
        ours = self.from_zero_alarm_name() if self.component else None
        if ours and ours not in kept and ours not in extra and cloudwatch.describe_alarms(
                AlarmNames=[ours]).get("MetricAlarms"):
            extra.append(ours)  # its policy is gone already, so no policy names it
        if extra:
            cloudwatch.delete_alarms(AlarmNames=sorted(set(extra)))

    def _variant_counts(self) -> tuple[str, int | None]:
        """The endpoint's (or component's) status and the desired (else current) count of
        instances (or copies). 0 is a count."""
        if self.component:
            described = self.sagemaker.describe_inference_component(
                InferenceComponentName=self.component)
            runtime = described.get("RuntimeConfig") or {}
            return described.get("InferenceComponentStatus", ""), _first_count(
                runtime.get("DesiredCopyCount"), runtime.get("CurrentCopyCount"))
        described = self.sagemaker.describe_endpoint(EndpointName=self.endpoint)
        for variant in described.get("ProductionVariants", []):
            if variant.get("VariantName") == self.variant:
                count = _first_count(variant.get("DesiredInstanceCount"),
                                     variant.get("CurrentInstanceCount"))
                return described.get("EndpointStatus", ""), count
        return described.get("EndpointStatus", ""), None

    def _extra_instances(self) -> tuple[int, int] | None:
        """(now, at start) when the variant's count differs from the saved one, else None."""
        if self.sagemaker is None or self.saved_instances is None:
            return None
        try:
            _status, now = self._variant_counts()
        except Exception:
            return None
        if now is None or now == self.saved_instances:
            return None
        return now, self.saved_instances

    def _restore_instances(self) -> str:
        """Put the instance count back as it was before the run; the clause saying what
        happened (or what the instances left running cost)."""
        extra = self._extra_instances()
        if extra is None:
            return ""
        now, start = extra
        unit = self.unit
        if self.component:
            cost = f"{now - start} copies"
        else:
            cost = cost_per_hour(self.instance_type, now - start)
        if self.keep_instances:
            return (f"; {now} {self.counted} kept ({start} at start, --keep-instances): "
                    f"{cost} more")
        try:
            self._wait_while_updating()
            if self.component:
                set_copy_count(self.sagemaker, self.component, start)
            else:
                self.sagemaker.update_endpoint_weights_and_capacities(
                    EndpointName=self.endpoint, DesiredWeightsAndCapacities=[
                        {"VariantName": self.variant, "DesiredInstanceCount": start}])
            _status, asked = self._variant_counts()
        except Exception as exc:
            error = as_aws_error(exc, f"setting the {unit} count back")
            self.last_error = error
            more = f"{cost} more" if now > start else f"{start - now} fewer than at start"
            owner = "component" if self.component else "variant"
            return (f"; the {owner} still runs {now} {self.counted}, {start} at start ({error}); "
                    f"{more}: run `loadwatch scaling restore --from RECORDING` when the "
                    "endpoint is InService")
        if asked != start:
            self.last_error = AwsError(f"asked for {start} {unit}, AWS reports {asked}",
                                       "RestoreNotVerified")
            return f"; {unit} {now} -> {start} asked, but AWS reports {asked} desired"
        owner = "component" if self.component else "endpoint"
        return f"; {unit} {now} -> {start} as at start (the {owner} is updating)"

    def _wait_while_updating(self) -> None:
        """Wait (up to ``instance_wait_s``) while the endpoint or component is Updating or
        Creating: an update takes minutes, and AWS refuses another meanwhile."""
        deadline = time.monotonic() + self.instance_wait_s
        status, _count = self._variant_counts()
        while status in ("Updating", "Creating") and time.monotonic() < deadline:
            time.sleep(INSTANCE_POLL_S)
            status, _count = self._variant_counts()


def _first_count(*counts: int | None) -> int | None:
    """The first count that is known: 0 included (``a or b`` would skip a zero)."""
    return next((c for c in counts if c is not None), None)

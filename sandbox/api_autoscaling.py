"""Application Auto Scaling (JSON 1.1, ``X-Amz-Target: AnyScaleFrontendService.*``).

Two SageMaker dimensions exist here: a variant (ResourceId ``endpoint/NAME/variant/VARIANT``,
ScalableDimension ``sagemaker:variant:DesiredInstanceCount``) and an inference component
(``inference-component/NAME``, ``sagemaker:inference-component:DesiredCopyCount``, MinCapacity
may be 0). Describe calls for another namespace answer empty lists, as AWS does for an account
without such targets; mutating calls for one are a ValidationException. TargetTrackingScaling
and StepScaling policies are implemented (a step policy runs when a CloudWatch alarm naming its
ARN goes into ALARM); PredictiveScaling is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sandbox.api_sagemaker import decode_token, encode_token
from sandbox.autoscaler import (
    COPY_DIMENSION,
    SCALABLE_DIMENSION,
    SERVICE_NAMESPACE,
    Activity,
    Policy,
    ScalableTarget,
)
from sandbox.errors import validation
from sandbox.protocols import from_epoch
from sandbox.scaling_model import COMPONENT_PREFIX, STEP_SCALING, dimension_of
from sandbox.simulation import Simulation

Handler = Callable[[Simulation, dict[str, Any], float], dict[str, Any]]


def _target_of(params: dict[str, Any]) -> str:
    """The ResourceId of a mutating call, after checking namespace and dimension."""
    for key in ("ServiceNamespace", "ResourceId", "ScalableDimension"):
        if not params.get(key):
            raise validation(f"1 validation error detected: Value null at '{key}' failed to "
                             "satisfy constraint: Member must not be null")
    if params["ServiceNamespace"] != SERVICE_NAMESPACE:
        raise validation(f"The sandbox only scales SageMaker variants (ServiceNamespace "
                         f"{SERVICE_NAMESPACE!r}), not {params['ServiceNamespace']!r}.")
    dimension = params["ScalableDimension"]
    if dimension not in (SCALABLE_DIMENSION, COPY_DIMENSION):
        raise validation(f"Unsupported scalable dimension {dimension!r}; use "
                         f"{SCALABLE_DIMENSION!r} or {COPY_DIMENSION!r}.")
    resource_id = params["ResourceId"]
    parts = resource_id.split("/")
    if dimension == COPY_DIMENSION:
        if not resource_id.startswith(COMPONENT_PREFIX) or len(parts) != 2 or not parts[1]:
            raise validation(f"Unsupported resource ID {resource_id!r} for {COPY_DIMENSION}; "
                             "inference components are inference-component/NAME.")
    elif len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant":
        raise validation(f"Unsupported resource ID {resource_id!r}; SageMaker variants are "
                         "endpoint/NAME/variant/VARIANT.")
    return resource_id


def _page(items: list[dict[str, Any]], params: dict[str, Any], key: str) -> dict[str, Any]:
    start = decode_token(params.get("NextToken"), "InvalidNextTokenException")
    limit = int(params.get("MaxResults") or 50)
    if not 1 <= limit <= 50:
        raise validation("MaxResults must be between 1 and 50.")
    result: dict[str, Any] = {key: items[start:start + limit]}
    if start + limit < len(items):
        result["NextToken"] = encode_token(start + limit)
    return result


def _in_scope(params: dict[str, Any]) -> bool:
    """Describe calls: is the request about SageMaker variants at all?"""
    if params.get("ServiceNamespace") is None:
        raise validation("1 validation error detected: Value null at 'serviceNamespace' "
                         "failed to satisfy constraint: Member must not be null")
    return params["ServiceNamespace"] == SERVICE_NAMESPACE


def _dimension_matches(params: dict[str, Any], resource_id: str) -> bool:
    wanted = params.get("ScalableDimension")
    return wanted is None or wanted == dimension_of(resource_id)


def register_scalable_target(sim: Simulation, params: dict[str, Any],
                             now: float) -> dict[str, Any]:
    resource_id = _target_of(params)
    suspended = params.get("SuspendedState") or None
    target = sim.autoscaler.register(resource_id, now, params.get("MinCapacity"),
                                     params.get("MaxCapacity"), params.get("RoleARN"), suspended)
    return {"ScalableTargetARN": target.arn}


def deregister_scalable_target(sim: Simulation, params: dict[str, Any],
                               now: float) -> dict[str, Any]:
    sim.autoscaler.deregister(_target_of(params))
    return {}


def _describe_target(target: ScalableTarget) -> dict[str, Any]:
    return {
        "ServiceNamespace": SERVICE_NAMESPACE,
        "ResourceId": target.resource_id,
        "ScalableDimension": dimension_of(target.resource_id),
        "MinCapacity": target.min_capacity,
        "MaxCapacity": target.max_capacity,
        "RoleARN": target.role_arn,
        "CreationTime": from_epoch(target.created),
        "SuspendedState": {
            "DynamicScalingInSuspended": target.scale_in_suspended,
            "DynamicScalingOutSuspended": target.scale_out_suspended,
            "ScheduledScalingSuspended": target.scheduled_suspended,
        },
        "ScalableTargetARN": target.arn,
    }


def describe_scalable_targets(sim: Simulation, params: dict[str, Any],
                              now: float) -> dict[str, Any]:
    targets: Iterable[ScalableTarget] = sim.autoscaler.targets.values() if _in_scope(params) \
        else ()
    wanted = params.get("ResourceIds")
    items = [_describe_target(t) for t in targets
             if (not wanted or t.resource_id in wanted)
             and _dimension_matches(params, t.resource_id)]
    return _page(items, params, "ScalableTargets")


def put_scaling_policy(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    resource_id = _target_of(params)
    name = params.get("PolicyName")
    if not name:
        raise validation("PolicyName is required.")
    policy_type = params.get("PolicyType") or STEP_SCALING  # AWS's default
    if policy_type == STEP_SCALING:
        step = params.get("StepScalingPolicyConfiguration")
        if not isinstance(step, dict):
            raise validation("StepScalingPolicyConfiguration is required for StepScaling.")
        policy = sim.autoscaler.put_step_policy(resource_id, name, step, now)
        return {"PolicyARN": policy.arn, "Alarms": _alarms_of(sim, policy)}
    if policy_type != "TargetTrackingScaling":
        raise validation(f"The sandbox implements TargetTrackingScaling and StepScaling "
                         f"policies, not {policy_type}.")
    configuration = params.get("TargetTrackingScalingPolicyConfiguration")
    if not isinstance(configuration, dict):
        raise validation("TargetTrackingScalingPolicyConfiguration is required for "
                         "TargetTrackingScaling.")
    policy = sim.autoscaler.put_policy(resource_id, name, configuration, now,
                                       sim.dimensions_of(resource_id))
    return {"PolicyARN": policy.arn, "Alarms": policy.alarms}


def _alarms_of(sim: Simulation, policy: Policy) -> list[dict[str, str]]:
    """A step policy's alarms are the CloudWatch alarms whose actions name its ARN."""
    if policy.policy_type != STEP_SCALING:
        return policy.alarms
    return [{"AlarmName": a.name, "AlarmARN": a.arn}
            for a in sim.alarms.pointing_at(policy.arn)]


def _describe_policy(sim: Simulation, policy: Policy) -> dict[str, Any]:
    key = ("StepScalingPolicyConfiguration" if policy.policy_type == STEP_SCALING
           else "TargetTrackingScalingPolicyConfiguration")
    return {
        "PolicyARN": policy.arn,
        "PolicyName": policy.name,
        "ServiceNamespace": SERVICE_NAMESPACE,
        "ResourceId": policy.resource_id,
        "ScalableDimension": dimension_of(policy.resource_id),
        "PolicyType": policy.policy_type,
        key: policy.configuration,
        "Alarms": _alarms_of(sim, policy),
        "CreationTime": from_epoch(policy.created),
    }


def describe_scaling_policies(sim: Simulation, params: dict[str, Any],
                              now: float) -> dict[str, Any]:
    policies: Iterable[Policy] = sim.autoscaler.policies.values() if _in_scope(params) else ()
    names = params.get("PolicyNames")
    resource_id = params.get("ResourceId")
    items = [_describe_policy(sim, p) for p in policies
             if (not names or p.name in names)
             and (resource_id is None or p.resource_id == resource_id)
             and _dimension_matches(params, p.resource_id)]
    return _page(items, params, "ScalingPolicies")


def delete_scaling_policy(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    resource_id = _target_of(params)
    sim.autoscaler.delete_policy(resource_id, str(params.get("PolicyName") or ""))
    return {}


def _describe_activity(activity: Activity) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ActivityId": activity.activity_id,
        "ServiceNamespace": SERVICE_NAMESPACE,
        "ResourceId": activity.resource_id,
        "ScalableDimension": dimension_of(activity.resource_id),
        "Description": activity.description,
        "Cause": activity.cause,
        "StartTime": from_epoch(activity.start),
        "StatusCode": activity.status,
    }
    if activity.end is not None:
        item["EndTime"] = from_epoch(activity.end)
    if activity.status_message:
        item["StatusMessage"] = activity.status_message
    if activity.not_scaled_reasons:
        item["NotScaledReasons"] = activity.not_scaled_reasons
    return item


def describe_scaling_activities(sim: Simulation, params: dict[str, Any],
                                now: float) -> dict[str, Any]:
    activities: Iterable[Activity] = reversed(sim.autoscaler.activities) \
        if _in_scope(params) else ()
    resource_id = params.get("ResourceId")
    include_not_scaled = bool(params.get("IncludeNotScaledActivities"))
    items = [_describe_activity(a) for a in activities
             if (resource_id is None or a.resource_id == resource_id)
             and _dimension_matches(params, a.resource_id)
             and (include_not_scaled or not a.not_scaled)]
    return _page(items, params, "ScalingActivities")


OPERATIONS: dict[str, Handler] = {
    "RegisterScalableTarget": register_scalable_target,
    "DeregisterScalableTarget": deregister_scalable_target,
    "DescribeScalableTargets": describe_scalable_targets,
    "PutScalingPolicy": put_scaling_policy,
    "DescribeScalingPolicies": describe_scaling_policies,
    "DeleteScalingPolicy": delete_scaling_policy,
    "DescribeScalingActivities": describe_scaling_activities,
}

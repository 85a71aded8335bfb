"""The scaling target a run was held to, in its own unit, in one place.

A target is recorded with the metric it tracks and that metric's unit: only
SageMakerVariantInvocationsPerInstance is "invocations per instance per minute" (the key
older readers look for); a per-copy target (an inference component's InvocationsPerCopy or
ConcurrentRequestsPerCopy) or a concurrency target is recorded under its own unit and is
never read as a per-instance figure.

Since recording format 2 the session writes it into the header's ``meta.scaling_target`` when
it is known before load starts (the profile's scaling policy, or the target-tracking policy
the pre-flight found in force). Older recordings had no such field: for them it is looked for
where it used to be scattered (the profile, the policy-in-force event, any scaling event).
"""

from __future__ import annotations

from typing import Any

from metrics.nested import first_match
from metrics.recording import Recording
from metrics.records import Event

META_KEY = "scaling_target"


PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"
# Each predefined metric a SageMaker target-tracking policy can track, in the user's words.
UNITS = {
    PER_INSTANCE: "invocations per instance per minute",
    "SageMakerVariantConcurrentRequestsPerModelHighResolution":
        "requests in flight per model",
    "SageMakerInferenceComponentInvocationsPerCopy": "invocations per copy per minute",
    "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution":
        "requests in flight per copy",
}


def target_meta(value: float | None, source: str,
                metric: str | None = PER_INSTANCE) -> dict[str, Any]:
    """What ``Header.meta`` holds under ``META_KEY``, in the metric's own unit; empty when
    no target is known."""
    if value is None or value <= 0:
        return {}
    metric = metric or PER_INSTANCE
    entry: dict[str, Any] = {"metric": metric, "value": float(value),
                             "unit": UNITS.get(metric, metric), "source": source}
    if metric == PER_INSTANCE:
        entry["invocations_per_instance_per_minute"] = float(value)
    return {META_KEY: entry}


def policy_metric(config: dict[str, Any] | None) -> str | None:
    """The predefined metric of the target-tracking policy in a saved configuration."""
    for policy in (config or {}).get("policies") or ():
        tracking = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
        spec = tracking.get("PredefinedMetricSpecification") or {}
        if spec.get("PredefinedMetricType"):
            return str(spec["PredefinedMetricType"])
    return None


def policy_target(config: dict[str, Any] | None) -> float | None:
    """The target value of the target-tracking policy in a saved scaling configuration."""
    return _find_number(config or {}, ("TargetValue",))


def recorded_target(recording: Recording) -> tuple[float, str, str] | None:
    """(value, unit, metric) of the target the header recorded in its own unit, else None
    (a recording older than issue 20 recorded no unit)."""
    fixed = recording.header.meta.get(META_KEY) if isinstance(recording.header.meta,
                                                              dict) else None
    if not isinstance(fixed, dict) or not isinstance(fixed.get("value"), int | float):
        return None
    return float(fixed["value"]), str(fixed.get("unit", "")), str(fixed.get("metric", ""))


def _lower_keys(data: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in data.items()} if isinstance(data, dict) else {}


def scaling_target_per_minute(recording: Recording) -> float | None:
    """The target-tracking target (InvocationsPerInstance per minute) the run was held to.

    The header's ``meta.scaling_target`` when the session wrote one. Else, for recordings made
    before it did: ``meta.scaling.target``, the profile's ``scaling.target``, the policy the
    endpoint poller saw in force, any scaling event carrying a target value. None when the
    run names none.
    """
    header = recording.header
    if tracks_concurrency(recording):
        return None
    fixed = header.meta.get(META_KEY) if isinstance(header.meta, dict) else None
    if isinstance(fixed, dict) and fixed.get("metric", PER_INSTANCE) != PER_INSTANCE:
        return None  # a per-copy or concurrency target: not a per-instance figure
    if isinstance(fixed, dict):
        value = fixed.get("invocations_per_instance_per_minute")
        if isinstance(value, int | float) and value > 0:
            return float(value)
    for source in (_lower_keys(header.meta).get("scaling"),
                   _lower_keys(header.profile).get("scaling")):
        value = _lower_keys(source).get("target")
        if isinstance(value, int | float) and value > 0:
            return float(value)
    events = [r for r in recording.records
              if isinstance(r, Event) and r.source == "scaling" and isinstance(r.data, dict)]
    in_force = [e for e in events if e.name == "policy_in_force"]
    for event in [*in_force, *events]:
        value = _find_number(event.data, ("target", "target_value", "TargetValue"))
        if value is not None:
            return value
    return None


def tracks_concurrency(recording: Recording) -> bool:
    """Whether the run's target tracking was on requests in flight (ConcurrentRequestsPerModel):
    its target (16 in flight, say) is no InvocationsPerInstance figure and must not be read
    as one. From the profile's ``scaling.metric`` or the policy the endpoint had in force."""
    scaling = _lower_keys(_lower_keys(recording.header.profile).get("scaling"))
    if str(scaling.get("metric", "")).lower() in ("concurrency", "concurrency-per-copy",
                                                   "invocations-per-copy"):
        return True
    fixed = recording.header.meta.get(META_KEY) if isinstance(recording.header.meta,
                                                              dict) else None
    if isinstance(fixed, dict) and fixed.get("metric", PER_INSTANCE) != PER_INSTANCE:
        return True
    return any(isinstance(r, Event) and r.name == "policy_in_force"
               and ("ConcurrentRequests" in str(r.data) or "PerCopy" in str(r.data))
               for r in recording.records)


def _find_number(data: Any, keys: tuple[str, ...]) -> float | None:
    """The first positive number under one of ``keys``, searching nested dicts and lists.

    A policy-in-force event nests it: policies[].TargetTrackingScalingPolicyConfiguration.
    """

    def pick(d: dict[str, Any]) -> float | None:
        for key in keys:
            value = d.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                return float(value)
        return None

    return first_match(data, pick)

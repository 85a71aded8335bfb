"""Target tracking's decision rules as pure functions: alarms, proportional capacity, cooldowns.

``decide`` turns a policy's datapoints and the target's state into what the policy does now;
``Autoscaler`` (sandbox/autoscaler.py) keeps targets, policies and activities and calls it.
Every rule is tested by tables (tests/sandbox/test_autoscaler.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HIGH_PERIODS = 3
LOW_PERIODS = 15
LOW_FRACTION = 0.9

SCALE_OUT = "scale-out"
SCALE_IN = "scale-in"


@dataclass(slots=True)
class Cooldowns:
    """When the last scaling activities of a target started and ended (None: still running)."""

    out_started: float | None = None
    out_ended: float | None = None
    out_from: int = 0  # the capacity before the last scale-out
    in_started: float | None = None
    in_ended: float | None = None

    def scale_out_cooling(self, now: float, cooldown: float) -> bool:
        return self.out_started is not None and (
            self.out_ended is None or now < self.out_ended + cooldown)

    def scale_in_cooling(self, now: float, cooldown: float) -> bool:
        return self.in_started is not None and (
            self.in_ended is None or now < self.in_ended + cooldown)


@dataclass(frozen=True, slots=True)
class Decision:
    action: str | None = None  # SCALE_OUT, SCALE_IN or None
    capacity: int | None = None
    alarm: str | None = None  # "high" or "low": which alarm is in ALARM, if any
    metric: float | None = None
    not_scaled: str | None = None  # AWS's NotScaledReason code, when an alarm fired in vain


NO_ALARM = Decision()


def decide(*, target_value: float, values: Sequence[float | None], desired: int,
           min_capacity: int, max_capacity: int, now: float, cooldowns: Cooldowns,
           scale_out_cooldown: float, scale_in_cooldown: float, disable_scale_in: bool = False,
           scale_out_suspended: bool = False, scale_in_suspended: bool = False,
           low_values: Sequence[float | None] | None = None) -> Decision:
    """What one target tracking policy does now, given its metric (oldest first, per minute).

    ``low_values``, when given, are the datapoints AlarmLow sees instead of ``values`` (a
    high-resolution policy's one-minute averages).
    """
    high = values[-HIGH_PERIODS:]
    low = (values if low_values is None else low_values)[-LOW_PERIODS:]
    latest = values[-1] if values else None
    if len(high) == HIGH_PERIODS and all(v is not None and v > target_value for v in high):
        assert latest is not None
        if scale_out_suspended:
            return Decision(alarm="high", metric=latest)
        base = desired
        if cooldowns.scale_out_cooling(now, scale_out_cooldown):
            base = cooldowns.out_from
        wanted = _clamp(math.ceil(base * latest / target_value), min_capacity, max_capacity)
        if wanted > desired:
            return Decision(SCALE_OUT, wanted, "high", latest)
        if desired >= max_capacity:
            return Decision(alarm="high", metric=latest, not_scaled="AlreadyAtMaxCapacity")
        return Decision(alarm="high", metric=latest)
    if len(low) == LOW_PERIODS and all(
            v is not None and v < LOW_FRACTION * target_value for v in low):
        latest = low[-1]
        assert latest is not None
        if disable_scale_in or scale_in_suspended:
            return Decision(alarm="low", metric=latest)
        if cooldowns.scale_in_cooling(now, scale_in_cooldown):
            return Decision(alarm="low", metric=latest)
        wanted = _clamp(math.ceil(desired * latest / target_value), min_capacity, max_capacity)
        if wanted < desired:
            return Decision(SCALE_IN, wanted, "low", latest)
        if desired <= min_capacity:
            return Decision(alarm="low", metric=latest, not_scaled="AlreadyAtMinCapacity")
        return Decision(alarm="low", metric=latest, not_scaled="AlreadyAtDesiredCapacity")
    return NO_ALARM


def minute_averages(values: Sequence[float | None], group: int) -> list[float | None]:
    """Averages of consecutive groups of ``group`` datapoints (None where a group has none)."""
    out: list[float | None] = []
    for start in range(len(values) % group, len(values), group):
        present = [v for v in values[start:start + group] if v is not None]
        out.append(sum(present) / len(present) if present else None)
    return out


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def per_minute(value: float | None, statistic: str, period_s: float) -> float | None:
    """A datapoint in SageMaker's per-minute unit: counts scale with the period, others not."""
    if value is None or statistic not in ("Sum", "SampleCount"):
        return value
    return value * 60.0 / period_s

"""CloudWatch metric alarms that users create (PutMetricAlarm), evaluated on the metric store.

An alarm looks at its metric's ``EvaluationPeriods`` newest periods of ``Period`` seconds
each time such a period's datapoints become visible; it is in ALARM when at least
``DatapointsToAlarm`` of them breach the threshold. Missing periods follow
``TreatMissingData``: ``missing`` (the default) leaves them out and, with none present, the
alarm goes INSUFFICIENT_DATA; ``notBreaching``/``breaching`` count them as such; ``ignore``
keeps the current state. Actions are ARNs: an Application Auto Scaling policy's ARN among
``AlarmActions`` runs that policy when the alarm enters ALARM and, as CloudWatch does for
Auto Scaling actions, again each minute it stays there. ``evaluate`` takes the reader of
datapoints and the runner of actions, so it is tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
ACTION_REPEAT_S = 60.0  # an alarm in ALARM invokes its Auto Scaling actions again each minute

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")

# (namespace, metric, dimensions, statistic, period, last period start, count) -> values
Reader = Callable[[str, str, tuple[tuple[str, str], ...], str, int, int, int],
                  Sequence[float | None]]
# (action ARN, alarm, newest value, now) -> None
Runner = Callable[[str, "Alarm", float | None, float], None]


@dataclass(slots=True)
class Alarm:
    name: str
    arn: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str
    actions: list[str]
    actions_enabled: bool
    request: dict[str, Any]  # as given, for DescribeAlarms
    updated: float
    state: str = INSUFFICIENT_DATA
    state_reason: str = "Unchecked: Initial alarm creation"
    state_updated: float = 0.0
    last_action: float = -math.inf
    evaluated: int = -1  # the newest period start this alarm was evaluated on
    values: list[float | None] = field(default_factory=list)


class Alarms:
    """The account's metric alarms, by name."""

    def __init__(self) -> None:
        self.alarms: dict[str, Alarm] = {}

    def put(self, alarm: Alarm) -> None:
        previous = self.alarms.get(alarm.name)
        if previous is not None:  # an update keeps the state until the next evaluation
            alarm.state, alarm.state_reason = previous.state, previous.state_reason
            alarm.state_updated = previous.state_updated
        self.alarms[alarm.name] = alarm

    def delete(self, names: Sequence[str]) -> list[str]:
        """Delete all of ``names``, or none of them; returns the names that do not exist."""
        missing = [n for n in names if n not in self.alarms]
        if not missing:
            for name in names:
                del self.alarms[name]
        return missing

    def pointing_at(self, arn: str) -> list[Alarm]:
        return [a for a in self.alarms.values() if arn in a.actions]

    def evaluate(self, now: float, fine_end: int, read: Reader, run: Runner) -> None:
        """Evaluate each alarm whose period ends at ``fine_end`` (its datapoints now visible)."""
        for alarm in list(self.alarms.values()):
            if fine_end % alarm.period:
                continue
            newest = fine_end - alarm.period
            if newest <= alarm.evaluated:
                continue
            alarm.evaluated = newest
            values = list(read(alarm.namespace, alarm.metric, alarm.dimensions, alarm.statistic,
                               alarm.period, newest, alarm.evaluation_periods))
            alarm.values = values
            state = self._state(alarm, values)
            if state is not None and state != alarm.state:
                alarm.state = state
                alarm.state_updated = now
                alarm.state_reason = _reason(alarm, values, state)
                if state == ALARM:
                    alarm.last_action = -math.inf
            if alarm.state == ALARM and alarm.actions_enabled and \
                    now - alarm.last_action >= ACTION_REPEAT_S - 1e-6:
                alarm.last_action = now
                latest = next((v for v in reversed(values) if v is not None), None)
                for action in alarm.actions:
                    run(action, alarm, latest, now)

    @staticmethod
    def _state(alarm: Alarm, values: list[float | None]) -> str | None:
        compare = COMPARISONS[alarm.comparison]
        breaching = 0
        present = 0
        for value in values:
            if value is None:
                if alarm.treat_missing == "breaching":
                    breaching += 1
                    present += 1
                elif alarm.treat_missing == "notBreaching":
                    present += 1
                continue
            present += 1
            if compare(value, alarm.threshold):
                breaching += 1
        if present == 0:
            return None if alarm.treat_missing == "ignore" else INSUFFICIENT_DATA
        needed = min(alarm.datapoints_to_alarm, present) if alarm.treat_missing == "missing" \
            else alarm.datapoints_to_alarm
        return ALARM if breaching >= needed else OK


def _reason(alarm: Alarm, values: list[float | None], state: str) -> str:
    shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
    if state == INSUFFICIENT_DATA:
        return (f"Insufficient Data: {alarm.evaluation_periods} datapoints were unknown.")
    verb = "was" if state == ALARM else "was not"
    return (f"Threshold Crossed: {alarm.evaluation_periods} datapoint(s) [{shown}] {verb} "
            f"{alarm.comparison} the threshold ({alarm.threshold:g}).")

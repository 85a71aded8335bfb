"""Cold starts of an inference component: from zero copies back to serving, as figures.

A cold start opens with the first failed request while the component has no copy in
service (the last ``EndpointState`` said 0 current copies, or none has come yet), and closes
with the first successful request after it, once an endpoint poll has seen the copy too (a
request can succeed before the next poll). In between it notes the first scaling activity
that started after the failure (the scale-from-zero alarm's step policy setting the copies
to 1) and the first poll that saw a copy in service. Times are elapsed seconds of the
session: one-second resolution for requests (ticks), the endpoint poll's interval for copies,
the activity's own start time for the alarm. The figures between them are what a user asks:
how long did the first request wait, and how much of that was the alarm, the copy loading.

``ColdStartTracker`` takes records one at a time (live, from the session's record stream,
and again over a recording for replay, report and compare); ``find_cold_starts`` runs it
over a whole recording.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from metrics.records import OK, EndpointState, Header, Record, ScalingActivity, Tick

EVENT = "cold_start"  # the Event name a completed cold start is recorded under


@dataclass(slots=True)
class ColdStart:
    """One cold start's moments (elapsed seconds) and the requests that failed in it."""

    failed_at: float
    alarm_at: float | None = None  # the first scaling activity after the failure
    in_service_at: float | None = None  # the first poll that saw a copy in service
    success_at: float | None = None
    failed: int = 0  # requests that failed between the first failure and the first success

    @property
    def seconds(self) -> float | None:
        """From the first failed request to the first success."""
        return None if self.success_at is None else self.success_at - self.failed_at

    def steps(self) -> list[tuple[str, float | None]]:
        """(what, seconds since the step before) for alarm, copy in service, first success."""
        out: list[tuple[str, float | None]] = []
        before = self.failed_at
        for name, at in (("alarm", self.alarm_at), ("copy InService", self.in_service_at),
                         ("first success", self.success_at)):
            out.append((name, None if at is None else max(at - before, 0.0)))
            before = at if at is not None else before
        return out

    def describe(self) -> str:
        """'cold start at 0:12: first failure, alarm +10 s, copy InService +3 s, first
        success +1 s: 14 s in all, 70 requests failed'."""
        minutes, seconds = divmod(int(self.failed_at), 60)
        parts = [f"{name} {'+' + format(s, '.0f') + ' s' if s is not None else 'not seen'}"
                 for name, s in self.steps()]
        total = self.seconds
        end = (f"{total:.0f} s in all, {self.failed} request{'s' if self.failed != 1 else ''} "
               "failed" if total is not None else "no success yet")
        return f"cold start at {minutes}:{seconds:02d}: first failure, {', '.join(parts)}: {end}"

    def to_dict(self) -> dict[str, Any]:
        return {"failed_at": self.failed_at, "alarm_at": self.alarm_at,
                "in_service_at": self.in_service_at, "success_at": self.success_at,
                "failed": self.failed, "seconds": self.seconds}


class ColdStartTracker:
    """Follows copies, activities and ticks; ``add`` returns a cold start as it completes."""

    def __init__(self, component: bool = False) -> None:
        self.component = component  # a run on an inference component (else: nothing to find)
        self.epoch0: float | None = None
        self.copies: int | None = None  # current copies at the last poll (None: not yet)
        self.open: ColdStart | None = None
        self.done: list[ColdStart] = []

    def add(self, record: Record) -> ColdStart | None:
        if isinstance(record, Header):
            self.epoch0 = record.t
            aws = record.meta.get("aws") if isinstance(record.meta, dict) else None
            self.component = self.component or bool(
                isinstance(aws, dict) and aws.get("inference_component"))
        elif isinstance(record, EndpointState):
            if record.components:
                self.copies = record.copy_counts()[0]
                start = self.open
                if start is not None and start.in_service_at is None and (self.copies or 0) > 0:
                    start.in_service_at = record.elapsed
                if start is not None and start.success_at is not None:
                    return self._close(start)
        elif isinstance(record, ScalingActivity):
            start = self.open
            if start is not None and start.alarm_at is None and self.epoch0 is not None:
                at = record.t - self.epoch0
                if at >= start.failed_at - 1.0:  # ticks are whole seconds
                    start.alarm_at = at
        elif isinstance(record, Tick):
            return self._tick(record)
        return None

    def _tick(self, tick: Tick) -> ColdStart | None:
        ok = tick.outcomes.get(OK, 0)
        failed = sum(n for kind, n in tick.outcomes.items() if kind != OK)
        start = self.open
        if start is None:
            if failed and self.component and not self.copies:  # no copy (or not known yet)
                self.open = ColdStart(float(tick.second), failed=failed)
            return None
        if start.success_at is not None:
            return None  # served; waiting for the poll that sees the copy
        start.failed += failed
        if ok:
            start.success_at = float(tick.second)
            if start.in_service_at is not None:
                return self._close(start)
        return None

    def _close(self, start: ColdStart) -> ColdStart:
        """Done: served, and a poll has seen the copies since (or had before)."""
        if start.in_service_at is not None and start.success_at is not None:
            # A poll after the first success saw the copy late: it served by then.
            start.in_service_at = min(start.in_service_at, start.success_at)
        self.open = None
        self.done.append(start)
        return start


def find_cold_starts(records: Iterable[Record],
                     header: Header | None = None) -> list[ColdStart]:
    """Every cold start of a recording (its ``header`` first when ``records`` lacks it),
    the one still open at its end included."""
    tracker = ColdStartTracker()
    for record in ([header] if header is not None else []):
        tracker.add(record)
    for record in records:
        tracker.add(record)
    return [*tracker.done, *([tracker.open] if tracker.open is not None else [])]

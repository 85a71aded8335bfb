"""Aggregation of ticks: a cheap ``add`` and a derived ``snapshot``.

Ticks from several workers merge into one tick per second (``merge_ticks``); ticks over a
window or a phase merge into an ``Aggregate`` whose snapshot gives the figures people read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from metrics import hdr
from metrics.records import ERROR_OUTCOMES, OK, OUTCOMES, Tick


def merge_ticks(parts: list[Tick]) -> Tick:
    """One tick from the same second of several workers."""
    first = parts[0]
    if len(parts) == 1:
        return first
    outcomes: Counter[str] = Counter()
    status: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for part in parts:
        outcomes.update(part.outcomes)
        status.update(part.status)
        errors.update(part.errors)
    return Tick(
        second=first.second,
        t=first.t,
        elapsed=first.elapsed,
        phase=first.phase,
        phase_index=first.phase_index,
        target_rps=sum(p.target_rps for p in parts),
        sent=sum(p.sent for p in parts),
        completed=sum(p.completed for p in parts),
        outcomes=dict(outcomes),
        status=dict(status),
        errors=dict(errors),
        late=sum(p.late for p in parts),
        not_sent=sum(p.not_sent for p in parts),
        in_flight=round(sum(p.in_flight for p in parts), 3),  # means: 3 decimals
        out_of_range=sum(p.out_of_range for p in parts),
        retried=sum(p.retried for p in parts),
        in_schedule=first.in_schedule,
        latency=hdr.merge_encoded(p.latency for p in parts),
        service=hdr.merge_encoded(p.service for p in parts),
        lag=hdr.merge_encoded(p.lag for p in parts),
        workers=sum(p.workers for p in parts),
        failed_latency=hdr.merge_encoded(p.failed_latency for p in parts),
        cpu={k: v for p in parts for k, v in p.cpu.items()},
        loop_lag_ms=max(p.loop_lag_ms for p in parts),
        interrupted=sum(p.interrupted for p in parts),
    )


def error_rate(outcomes: dict[str, int], not_sent: int = 0) -> float:
    """Errors as a fraction of requests; requests not sent (in-flight cap) count as errors."""
    errors = sum(outcomes.get(k, 0) for k in ERROR_OUTCOMES) + not_sent
    total = sum(outcomes.values()) + not_sent
    return errors / total if total else 0.0


@dataclass
class Aggregate:
    """Counters and histograms over any run of ticks (a window, a phase, a whole session)."""

    ticks: int = 0
    seconds: int = 0  # ticks inside the schedule: rates are per these seconds
    target: float = 0.0
    sent: int = 0
    completed: int = 0
    late: int = 0
    not_sent: int = 0
    out_of_range: int = 0
    retried: int = 0
    interrupted: int = 0  # sent, then cut by the operator's stop: outside every rate of errors
    outcomes: Counter[str] = field(default_factory=Counter)
    status: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latency: hdr.Histogram = field(default_factory=hdr.new_histogram)
    service: hdr.Histogram = field(default_factory=hdr.new_histogram)
    failed_latency: hdr.Histogram = field(default_factory=hdr.new_histogram)
    lag: hdr.Histogram = field(default_factory=hdr.new_histogram)

    def add(self, tick: Tick) -> None:
        self.ticks += 1
        if tick.in_schedule:
            self.seconds += 1
        self.target += tick.target_rps
        self.sent += tick.sent
        self.completed += tick.completed
        self.late += tick.late
        self.not_sent += tick.not_sent
        self.out_of_range += tick.out_of_range
        self.retried += tick.retried
        self.interrupted += tick.interrupted
        self.outcomes.update(tick.outcomes)
        self.status.update(tick.status)
        self.errors.update(tick.errors)
        hdr.merge((tick.latency,), into=self.latency)
        hdr.merge((tick.service,), into=self.service)
        hdr.merge((tick.failed_latency,), into=self.failed_latency)
        hdr.merge((tick.lag,), into=self.lag)

    def release(self) -> None:
        """Free the histograms now (see ``hdr.release``); the aggregate is done with."""
        for histogram in (self.latency, self.service, self.failed_latency, self.lag):
            hdr.release(histogram)

    def extend(self, ticks: Iterable[Tick]) -> Aggregate:
        for tick in ticks:
            self.add(tick)
        return self

    def snapshot(self) -> dict[str, Any]:
        """The figures: rates per second, counts by outcome, latency percentiles in ms.

        ``latency_ms`` and ``service_ms`` are of successful requests (of every request in a
        format-1 recording), ``failed_latency_ms`` of the failed ones; ``ok_rps`` counts
        successful completions per second of schedule.
        """
        seconds = max(self.seconds, 1)
        outcome_counts = {k: self.outcomes.get(k, 0) for k in OUTCOMES}
        return {
            "seconds": self.seconds,
            "target_rps": self.target / seconds,
            "achieved_rps": self.sent / seconds,
            "throughput_rps": self.completed / seconds,
            "ok_rps": outcome_counts[OK] / seconds,
            "requests": self.sent,
            "completed": self.completed,
            "ok": outcome_counts[OK],
            "outcomes": outcome_counts,
            "errors_total": sum(outcome_counts[k] for k in ERROR_OUTCOMES),
            "error_rate": error_rate(outcome_counts, self.not_sent),
            "late": self.late,
            "not_sent": self.not_sent,
            "out_of_range": self.out_of_range,
            "retried": self.retried,
            "interrupted": self.interrupted,
            "status": dict(sorted(self.status.items())),
            "error_codes": dict(self.errors.most_common()),
            "latency_ms": hdr.summary_ms(self.latency),
            "service_ms": hdr.summary_ms(self.service),
            "failed_latency_ms": hdr.summary_ms(self.failed_latency),
            "lag_ms": hdr.summary_ms(self.lag),
        }


class SummaryBuilder:
    """Per-phase and total aggregates built tick by tick, in constant memory."""

    def __init__(self) -> None:
        self.total = Aggregate()
        self.phases: dict[int, tuple[str | None, Aggregate]] = {}

    def add(self, tick: Tick) -> None:
        self.total.add(tick)
        if tick.phase_index not in self.phases:
            self.phases[tick.phase_index] = (tick.phase, Aggregate())
        self.phases[tick.phase_index][1].add(tick)

    def result(self) -> dict[str, Any]:
        """What a footer's ``summary`` holds: phases in order, then the total."""
        return {
            "phases": [
                {"index": index, "name": name, **agg.snapshot()}
                for index, (name, agg) in sorted(self.phases.items())
            ],
            "total": self.total.snapshot(),
        }


def summarize(ticks: Iterable[Tick]) -> dict[str, Any]:
    builder = SummaryBuilder()
    for tick in ticks:
        builder.add(tick)
    return builder.result()

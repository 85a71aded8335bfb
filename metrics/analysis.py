"""One recorded session read and indexed: per-phase figures over any window of elapsed time.

Pure analysis, no UI: ``analyze`` turns a recording into a ``RunAnalysis`` whose ``figures``
covers any window of elapsed time. ``metrics.compare`` lines two of them up.

Client percentiles come from the HDR histograms of a window merged together, never from
averaging per-second percentiles; they are of successful requests (of every request in a
format-1 recording: ``RunAnalysis.latency_basis`` says which), the failed requests' latency
kept apart. Server datapoints cover a CloudWatch period: a period belongs to the window its
start falls in. The last window of a run stays open to the end of the recording, so seconds
spent draining requests after the schedule count in the last phase.

A *breach* is a moment that should make an autoscaler act: an InvocationsPerInstance datapoint
above the scaling target (converted to per minute whatever the period), or a second whose client
p99 is above the latency objective: for a streaming LLM run, a second whose TTFT p99 (from the
intended send) is above it (``RunAnalysis.slo_on``, see ``metrics.windows``). A *scale-out*
is the first scaling activity that raises the instance count, or the first rise of the
endpoint's desired count, whichever is seen first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrics import ensure as ensure_checks
from metrics import failures
from metrics.llm import is_streaming
from metrics.recording import Recording, read_recording
from metrics.records import (
    CONN_ERROR,
    HTTP_4XX,
    HTTP_5XX,
    OTHER,
    THROTTLED,
    TIMEOUT,
    Footer,
    Header,
    ScalingActivity,
    Tick,
)
from metrics.records import latency_basis as basis_of
from metrics.scaling_target import scaling_target_per_minute
from metrics.stats import Aggregate
from metrics.timeline import Timeline
from metrics.windows import (
    DEFAULT_SLO_MS,
    ON_P99,
    ON_TTFT,
    SERIES,
    TOTAL,
    Window,
    objective_subject,
    plan_windows,
    resolve_slo,
)

__all__ = ["DEFAULT_SLO_MS", "ON_P99", "ON_TTFT", "TOTAL", "Breach", "Figures", "RunAnalysis",
           "ScaleOut", "Window", "activity_target_count", "analyze", "load", "objective_on",
           "plan_windows", "resolve_slo"]

# Client error outcomes that are neither an HTTP 4xx nor 5xx answer.
OTHER_OUTCOMES = (THROTTLED, TIMEOUT, CONN_ERROR, OTHER)

_COUNT_TO = re.compile(r"(?:count|capacity)\s+(?:to|of)\s+(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Breach:
    elapsed: float
    kind: str  # "invocations per instance" | "latency"
    detail: str


@dataclass(frozen=True, slots=True)
class ScaleOut:
    elapsed: float
    instances_from: int | None
    instances_to: int | None
    source: str  # "scaling activity" | "endpoint"
    detail: str = ""


@dataclass
class Figures:
    """What one run did in one window: the rows of the comparison table."""

    window: Window
    seconds: int  # seconds of schedule in the window (rates are per these)
    requests: int
    offered_rps: float | None
    achieved_rps: float | None
    completed_rps: float | None
    ok_rps: float | None  # successful requests per second of schedule
    p50_ms: float | None  # p50..max: of successful requests (``latency_basis``)
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    failed_p50_ms: float | None
    failed_p99_ms: float | None
    error_rate: float
    rate_4xx: float
    rate_5xx: float
    rate_other: float
    outcomes: dict[str, int]
    not_sent: int
    failures: dict[str, Any]  # status, error_codes, outcomes, not_sent: see metrics.failures
    model_latency_avg_ms: float | None  # weighted by Invocations per period when known
    model_latency_p99_ms: float | None  # the worst period's p99: periods cannot be merged
    server_invocations: float | None
    server_4xx: float | None
    server_5xx: float | None
    instances_min: int | None
    instances_max: int | None
    first_breach: Breach | None
    scale_out: ScaleOut | None  # the first at or after the breach
    seconds_over_slo: int
    scaling_recorded: bool  # endpoint states or scaling activities exist for the run
    # Requests in flight when the operator stopped the run: not errors, not in ``requests``'
    # outcomes (their share of the error rate is none).
    interrupted: int = 0

    @property
    def breach_to_scale_out_s(self) -> float | None:
        if self.first_breach is None or self.scale_out is None:
            return None
        return self.scale_out.elapsed - self.first_breach.elapsed


@dataclass
class RunAnalysis:
    """One recording read and indexed for figures over any window."""

    recording: Recording
    label: str
    timeline: Timeline
    ticks: list[Tick]
    phases: list[Window]
    slo_ms: float
    slo_source: str
    scaling_target: float | None  # InvocationsPerInstance per minute
    slo_on: str = ON_P99  # ON_TTFT for a streaming run: the objective is on TTFT p99
    latency_breaches: list[float] = field(default_factory=list)  # seconds over the objective
    ipi_breaches: list[tuple[float, float]] = field(default_factory=list)  # (elapsed, per min)
    scale_outs: list[ScaleOut] = field(default_factory=list)

    @property
    def header(self) -> Header:
        return self.recording.header

    @property
    def footer(self) -> Footer | None:
        return self.recording.footer

    @property
    def warnings(self) -> list[str]:
        return self.recording.warnings

    @property
    def duration(self) -> float:
        """Elapsed seconds the recording covers."""
        return self.timeline.elapsed

    @property
    def latency_basis(self) -> str:
        """What latency figures cover: ``LATENCY_OK``, or ``LATENCY_ALL`` in old recordings."""
        return basis_of(self.header)

    @property
    def slo_subject(self) -> str:
        """What the objective is on: "client p99 (ok)" or "TTFT p99"."""
        return objective_subject(self.slo_on, self.latency_basis)

    @property
    def slo_text(self) -> str:
        """The objective in full: "TTFT p99 ≤ 500 ms (the profile's llm.slo.ttft)"."""
        return f"{self.slo_subject} ≤ {self.slo_ms:g} ms ({self.slo_source})"

    @property
    def scaling_recorded(self) -> bool:
        return bool(self.timeline.instances or self.timeline.activities)

    def ensure_results(self) -> tuple[list[dict[str, Any]], bool]:
        """The ensure checks and whether they were recomputed (no footer: the run was cut)."""
        if self.footer is not None:
            return list(self.footer.ensure), False
        thresholds = self.header.meta.get("ensure") or {}
        try:
            load = self.timeline.client_load
            checks = ensure_checks.evaluate(thresholds, self.timeline.totals(),
                                            load.result() if load.measured_seconds else None)
        except (KeyError, TypeError, ValueError):
            return [], True
        return ensure_checks.as_dicts(checks), True

    def failure_reason(self) -> str | None:
        """When (nearly) every request failed for one reason, the sentence that says so (with
        the server's first words for it, if it gave any)."""
        return failures.one_reason(self.figures(TOTAL).failures,
                                   failures.request_description(self.header.profile),
                                   self.server_messages())

    def server_messages(self) -> dict[str, str]:
        """The server's first words for each error code and status (``first_messages``)."""
        return failures.first_messages(self.recording.records)

    def first_breach(self, window: Window = TOTAL) -> Breach | None:
        candidates = []
        latency = next((x for x in self.latency_breaches if x in window), None)
        if latency is not None:
            p99 = self._p99_at(latency)
            candidates.append(Breach(latency, "latency",
                                     f"{self.slo_subject} {p99:.0f} ms > objective "
                                     f"{self.slo_ms:g} ms"))
        ipi = next(((x, v) for x, v in self.ipi_breaches if x in window), None)
        if ipi is not None:
            candidates.append(Breach(
                ipi[0], "invocations per instance",
                f"InvocationsPerInstance {ipi[1]:,.0f}/min > target {self.scaling_target:,.0f}"
                "/min"))
        return min(candidates, key=lambda b: b.elapsed, default=None)

    def _p99_at(self, second: float) -> float:
        index = self.timeline.client.x.index(second)
        return self.timeline.client.values[SERIES[self.slo_on]][index] or 0.0

    def scale_out_after(self, elapsed: float) -> ScaleOut | None:
        return next((s for s in self.scale_outs if s.elapsed >= elapsed), None)

    def figures(self, window: Window = TOTAL) -> Figures:
        agg = Aggregate().extend(t for t in self.ticks if t.second in window)
        snap = agg.snapshot()
        outcomes = snap["outcomes"]
        total = sum(outcomes.values()) + snap["not_sent"]
        other = sum(outcomes[k] for k in OTHER_OUTCOMES) + snap["not_sent"]
        latency = snap["latency_ms"]
        has_load = snap["seconds"] > 0
        breach = self.first_breach(window)
        lo, hi = self._instances_range(window)
        return Figures(
            window=window,
            seconds=snap["seconds"],
            requests=snap["requests"],
            offered_rps=snap["target_rps"] if has_load else None,
            achieved_rps=snap["achieved_rps"] if has_load else None,
            completed_rps=snap["throughput_rps"] if has_load else None,
            ok_rps=snap["ok_rps"] if has_load else None,
            p50_ms=latency["p50"],
            p95_ms=latency["p95"],
            p99_ms=latency["p99"],
            max_ms=latency["max"],
            failed_p50_ms=snap["failed_latency_ms"]["p50"],
            failed_p99_ms=snap["failed_latency_ms"]["p99"],
            error_rate=snap["error_rate"],
            rate_4xx=outcomes[HTTP_4XX] / total if total else 0.0,
            rate_5xx=outcomes[HTTP_5XX] / total if total else 0.0,
            rate_other=other / total if total else 0.0,
            outcomes=dict(outcomes),
            not_sent=snap["not_sent"],
            failures={k: snap[k] for k in ("status", "error_codes", "outcomes", "not_sent")},
            model_latency_avg_ms=self._model_latency_avg(window),
            model_latency_p99_ms=_max_or_none(self._server_in("ModelLatency", "p99", window)),
            server_invocations=_sum_or_none(self._server_in("Invocations", "Sum", window)),
            server_4xx=_sum_or_none(self._server_in("Invocation4XXErrors", "Sum", window)),
            server_5xx=_sum_or_none(self._server_in("Invocation5XXErrors", "Sum", window)),
            instances_min=lo,
            instances_max=hi,
            first_breach=breach,
            scale_out=self.scale_out_after(breach.elapsed) if breach else None,
            seconds_over_slo=sum(1 for x in self.latency_breaches if x in window),
            scaling_recorded=self.scaling_recorded,
            interrupted=snap["interrupted"],
        )

    def _server_in(self, metric: str, stat: str, window: Window) -> list[float]:
        points = self.timeline.server.get((metric, stat), {})
        return [v for x, v in points.items() if x in window]

    def _model_latency_avg(self, window: Window) -> float | None:
        latency = self.timeline.server.get(("ModelLatency", "Average"), {})
        invocations = self.timeline.server.get(("Invocations", "Sum"), {})
        pairs = [(v, invocations.get(x)) for x, v in latency.items() if x in window]
        if not pairs:
            return None
        if all(w for _, w in pairs):
            weight = sum(w for _, w in pairs)  # type: ignore[misc]
            return sum(v * w for v, w in pairs) / weight  # type: ignore[operator]
        return sum(v for v, _ in pairs) / len(pairs)

    def _instances_range(self, window: Window) -> tuple[int | None, int | None]:
        if window.start >= self.duration:
            return None, None  # a phase the recording never reached
        counts = []
        before = None
        for point in self.timeline.instances:
            count = point.current if point.current is not None else point.desired
            if point.elapsed <= window.start:
                before = count
            elif point.elapsed in window:
                counts.append(count)
        counts = [c for c in [before, *counts] if c is not None]
        return (min(counts), max(counts)) if counts else (None, None)

    def instances_at(self, elapsed: float) -> int | None:
        count = None
        for point in self.timeline.instances:
            if point.elapsed > elapsed:
                break
            count = point.current if point.current is not None else point.desired
        return count



def analyze(recording: Recording, label: str | None = None, slo_ms: float | None = None,
            scaling_target: float | None = None) -> RunAnalysis:
    """Index a recording: its timeline, phase windows, breaches and scale-outs."""
    ticks = [r for r in recording.records if isinstance(r, Tick)]
    if not ticks:
        recording.warnings.append(f"{recording.path}: no second of load was recorded")
    # No halving: the per-second series must stay one point per tick.
    timeline = Timeline(max_points=len(ticks) + 1)
    timeline.add(recording.header)
    for record in recording.records:
        timeline.add(record)
    if recording.footer is not None:
        timeline.add(recording.footer)
    on = objective_on(ticks)
    slo, source = resolve_slo(slo_ms, [recording.header], on)
    target = scaling_target if scaling_target is not None else scaling_target_per_minute(
        recording)
    run = RunAnalysis(
        recording=recording,
        label=label or recording.path.stem,
        timeline=timeline,
        ticks=ticks,
        phases=plan_windows(recording.header, ticks),
        slo_ms=slo,
        slo_source=source,
        scaling_target=target,
        slo_on=on,
    )
    in_schedule = {t.second for t in ticks if t.in_schedule}
    client = timeline.client
    run.latency_breaches = [x for x, p99 in zip(client.x, client.values[SERIES[on]], strict=True)
                            if p99 is not None and p99 > slo and x in in_schedule]
    period = timeline.period
    if target is not None and period:
        xs, values = timeline.server_series("InvocationsPerInstance", "Sum")
        run.ipi_breaches = [(x, v * 60.0 / period) for x, v in zip(xs, values, strict=True)
                            if v * 60.0 / period > target]
    run.scale_outs = _scale_outs(run)
    return run


def objective_on(ticks: list[Tick]) -> str:
    """``ON_TTFT`` when the ticks carry streaming LLM figures, else ``ON_P99``."""
    return ON_TTFT if any(is_streaming(t) for t in ticks) else ON_P99


def load(path: str | Path, label: str | None = None, slo_ms: float | None = None) -> RunAnalysis:
    """Read and analyze one recording; raises ``RecordingError`` for what cannot be read."""
    return analyze(read_recording(path), label, slo_ms)


def _scale_outs(run: RunAnalysis) -> list[ScaleOut]:
    found: list[ScaleOut] = []
    previous = None
    for point in run.timeline.instances:
        if previous is not None and point.desired is not None and previous.desired is not None \
                and point.desired > previous.desired:
            found.append(ScaleOut(point.elapsed, previous.desired, point.desired, "endpoint",
                                  f"desired instances {previous.desired} → {point.desired}"))
        previous = point
    for elapsed, activity in run.timeline.activity_marks():
        if activity.status.lower() == "failed":
            continue
        before = run.instances_at(elapsed)
        after = activity_target_count(activity)
        raises = (after > before) if (after is not None and before is not None) else (
            "alarmhigh" in activity.cause.lower())
        if raises:
            found.append(ScaleOut(elapsed, before, after, "scaling activity",
                                  activity.description or activity.cause))
    return sorted(found, key=lambda s: s.elapsed)


def activity_target_count(activity: ScalingActivity) -> int | None:
    """The instance count an activity sets, read from its description ("... count to 2")."""
    match = _COUNT_TO.search(activity.description)
    return int(match.group(1)) if match else None


def _sum_or_none(values: list[float]) -> float | None:
    return sum(values) if values else None


def _max_or_none(values: list[float]) -> float | None:
    return max(values) if values else None



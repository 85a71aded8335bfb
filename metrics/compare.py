"""Two recorded sessions lined up side by side.

``compare`` lines two runs (see ``metrics.analysis``) up by elapsed time (the first run's phase
windows applied to both) or by phase name (each phase over its own window). When the runs'
plans differ (phases, rates, targets) it says so first, and matches phases by name only where
the names match: a phase never shows under another run's phase name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metrics.analysis import (
    DEFAULT_SLO_MS,
    ON_P99,
    ON_TTFT,
    TOTAL,
    Breach,
    Figures,
    RunAnalysis,
    ScaleOut,
    Window,
    analyze,
    load,
    objective_on,
    plan_windows,
    resolve_slo,
)
from metrics.engine_figures import engine_window
from metrics.llm import LlmAggregate, LlmSummaryBuilder
from metrics.records import LATENCY_ALL, LATENCY_OK
from metrics.scaling_target import scaling_target_per_minute

__all__ = [
    "BY_PHASE",
    "BY_TIME",
    "DEFAULT_SLO_MS",
    "ON_P99",
    "ON_TTFT",
    "TOTAL",
    "Breach",
    "Comparison",
    "Figures",
    "Row",
    "RunAnalysis",
    "ScaleOut",
    "Window",
    "analyze",
    "compare",
    "engine_figures",
    "llm_figures",
    "llm_summary",
    "load",
    "objective_on",
    "phase_time_map",
    "plan_differences",
    "plan_windows",
    "resolve_slo",
    "scaling_target_per_minute",
]

BY_TIME = "time"
BY_PHASE = "phase"


@dataclass
class Row:
    """One line-up of the comparison: the same phase (or time window) in both runs."""

    name: str
    a: Figures | None
    b: Figures | None
    # Streaming LLM runs: ``LlmAggregate.snapshot()`` of the same window; None otherwise.
    llm_a: dict[str, Any] | None = None
    llm_b: dict[str, Any] | None = None
    # Runs that scraped their serving engine: ``engine_figures`` of the same window.
    engine_a: dict[str, Any] | None = None
    engine_b: dict[str, Any] | None = None


@dataclass
class Comparison:
    a: RunAnalysis
    b: RunAnalysis
    by: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    b_time: Callable[[float], float] = float  # B's elapsed seconds on the shared time axis

    @property
    def runs(self) -> tuple[RunAnalysis, RunAnalysis]:
        return self.a, self.b



def plan_differences(a: RunAnalysis, b: RunAnalysis) -> list[str]:
    """What differs between the two runs' plans: targets, phases, rates, scaling targets."""
    notes = []
    if a.header.target != b.header.target:
        notes.append(f"targets differ: {a.label} {a.header.target}, {b.label} {b.header.target}")
    plan_a, plan_b = _plan(a), _plan(b)
    if [p[0] for p in plan_a] != [p[0] for p in plan_b]:
        notes.append(f"phases differ: {a.label} {_names(plan_a)}; {b.label} {_names(plan_b)}")
    elif plan_a != plan_b:
        changed = [f"“{pa[0]}” {_rates(pa)} vs {_rates(pb)}"
                   for pa, pb in zip(plan_a, plan_b, strict=True) if pa != pb]
        notes.append(f"rates or durations differ ({a.label} vs {b.label}): "
                     + "; ".join(changed))
    if a.scaling_target != b.scaling_target:
        notes.append(f"scaling targets differ: {a.label} {_per_minute(a.scaling_target)}, "
                     f"{b.label} {_per_minute(b.scaling_target)}")
    return notes


def _plan(run: RunAnalysis) -> list[tuple[str, float, float, float | None, float | None]]:
    """(name, start, duration, rate from, rate to) per phase, from the header's plan if any."""
    plan = run.header.meta.get("plan") if isinstance(run.header.meta, dict) else None
    if isinstance(plan, list) and plan and all(isinstance(p, dict) for p in plan):
        return [(str(p.get("name")), float(p.get("start", 0)), float(p.get("duration", 0)),
                 p.get("rate_start"), p.get("rate_end")) for p in plan]
    return [(w.name, w.start, w.duration or 0.0, None, None) for w in run.phases]


def _names(plan: list[tuple[str, float, float, float | None, float | None]]) -> str:
    return ", ".join(f"“{p[0]}”" for p in plan) or "none"


def _rates(phase: tuple[str, float, float, float | None, float | None]) -> str:
    _name, _start, duration, lo, hi = phase
    rate = "" if lo is None else f"{lo:g}" if lo == hi else f"{lo:g}→{hi:g}"
    return f"{rate} req/s for {duration:g} s" if rate else f"{duration:g} s"


def _per_minute(value: float | None) -> str:
    return "none" if value is None else f"{value:,.0f}/min"


def compare(a: RunAnalysis, b: RunAnalysis, by: str = BY_TIME) -> Comparison:
    """Line two runs up, phase by phase, plus a total row; ``by`` is "time" or "phase".

    By time, both runs are cut at the first run's phase times, which only means the same thing
    when the runs' phases are the same: when they are not, phases are matched by name (as
    ``by="phase"`` does) and a note says so. Notes about differing plans come first.
    """
    if by not in (BY_TIME, BY_PHASE):
        raise ValueError(f"by must be {BY_TIME!r} or {BY_PHASE!r}, not {by!r}")
    notes = plan_differences(a, b)
    for run in (a, b):
        reason = run.failure_reason()
        if reason:
            notes.append(f"{run.label}: {reason}")
    if a.slo_on != b.slo_on:
        streamed, other = (a, b) if a.slo_on == ON_TTFT else (b, a)
        notes.append(f"{streamed.label} streamed and {other.label} did not: their latency "
                     f"objectives are on different figures ({streamed.label} {streamed.slo_text}; "
                     f"{other.label} {other.slo_text}), so seconds over objective and first "
                     "breaches do not compare")
    elif a.slo_ms != b.slo_ms:
        notes.append(f"latency objectives differ: {a.label} {a.slo_ms:g} ms, "
                     f"{b.label} {b.slo_ms:g} ms")
    if a.latency_basis != b.latency_basis:
        covers = {LATENCY_OK: "successful requests only", LATENCY_ALL: "all requests"}
        notes.append(f"latency covers {covers[a.latency_basis]} in {a.label}, "
                     f"{covers[b.latency_basis]} in {b.label} (a recording older than format 2 "
                     "mixed failed requests in)")
    same_phases = [(w.name, w.start) for w in a.phases] == [(w.name, w.start) for w in b.phases]
    rows: list[Row] = []
    b_time: Callable[[float], float] = float
    if by == BY_TIME and same_phases:
        rows = [Row(w.name, a.figures(w), b.figures(w)) for w in a.phases]
    else:
        rows, unmatched = _by_name(a, b)
        parts = ["phases are matched by name, each over its own run's times"] \
            if by == BY_TIME else []
        if unmatched:
            parts.append(", ".join(f"“{name}”" for name in unmatched)
                         + " have no namesake in the other run and show on one side only")
        if parts:
            notes.append("; ".join(parts))
        if by == BY_PHASE:
            b_time = phase_time_map(b.phases, a.phases)
    rows.append(Row("total", a.figures(TOTAL), b.figures(TOTAL)))
    for row in rows:
        row.llm_a = llm_figures(a, row.a.window) if row.a is not None else None
        row.llm_b = llm_figures(b, row.b.window) if row.b is not None else None
        row.engine_a = engine_figures(a, row.a.window) if row.a is not None else None
        row.engine_b = engine_figures(b, row.b.window) if row.b is not None else None
    return Comparison(a, b, by, rows, notes, b_time)


def llm_figures(run: RunAnalysis, window: Window = TOTAL) -> dict[str, Any] | None:
    """TTFT, TPOT, tokens and goodput over a window of a streaming run; None if it did not
    stream."""
    aggregate = LlmAggregate().extend(t for t in run.ticks if t.second in window)
    try:
        return aggregate.snapshot() if aggregate.streaming else None
    finally:
        aggregate.release()


def engine_figures(run: RunAnalysis, window: Window = TOTAL) -> dict[str, Any] | None:
    """The serving engine's figures over a window (``metrics.engine_figures``); None when the
    run scraped no engine."""
    return engine_window(run.timeline.engine, window.__contains__)


def llm_summary(run: RunAnalysis) -> dict[str, Any] | None:
    """The headless summary's LLM table (per phase and total) rebuilt from the run's ticks, so
    a recording without ``summary.llm`` (an interrupted run) has one too; None if no stream."""
    builder = LlmSummaryBuilder()
    for tick in run.ticks:
        builder.add(tick)
    result = builder.result()
    builder.total.release()
    for _, aggregate in builder.phases.values():
        aggregate.release()
    return result


def _by_name(a: RunAnalysis, b: RunAnalysis) -> tuple[list[Row], list[str]]:
    """Rows of phases matched by name, in A's order, then B's phases A has no namesake for."""
    b_by_name: dict[str, list[Window]] = {}
    for window in b.phases:
        b_by_name.setdefault(window.name, []).append(window)
    rows, unmatched = [], []
    for window in a.phases:
        match = b_by_name.get(window.name)
        wb = match.pop(0) if match else None
        if wb is None:
            unmatched.append(window.name)
        rows.append(Row(window.name, a.figures(window), b.figures(wb) if wb else None))
    for left in b_by_name.values():
        for window in left:
            unmatched.append(window.name)
            rows.append(Row(window.name, None, b.figures(window)))
    return rows, unmatched


def phase_time_map(source: list[Window], reference: list[Window]) -> Callable[[float], float]:
    """Map elapsed seconds of one run onto another's, phase k stretched onto phase k.

    Past the last phase both runs share, time runs on at the same pace.
    """
    pairs = [(src.start, ref.start, src.duration, ref.duration)
             for src, ref in zip(source, reference, strict=False)]

    def to_reference(x: float) -> float:
        for s0, r0, sd, rd in pairs:
            if sd is not None and x >= s0 + sd:
                continue  # past this phase
            if sd and rd and x >= s0:
                return r0 + (x - s0) * rd / sd
            return r0 + (x - s0)
        if not pairs:
            return x
        s0, r0, sd, rd = pairs[-1]
        assert sd is not None
        return r0 + (rd if rd is not None else sd) + (x - s0 - sd)

    return to_reference


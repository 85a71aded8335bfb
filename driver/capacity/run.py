"""Driving the capacity search against a live session.

``CapacityRun.run`` is a session producer: it sets the rate of each step with live control,
watches the session's ticks, judges each step with ``driver.capacity.CapacitySearch``, and
stops the session when the search is over. Every step, verdict and the result become events,
so a search is recorded, replayed and reported like any session. ``objectives_from`` and
``judge_for`` give a search its objectives from the command line and the judge they ask for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from driver.capacity import llm as capacity_llm
from driver.capacity.search import (
    CapacitySearch,
    Objectives,
    PlainJudge,
    StepJudge,
    StepResult,
    Verdict,
)
from driver.capacity.text import describe_spread
from driver.profile import Profile
from driver.schedule import Phase
from driver.session import Session
from metrics.records import Datapoint, Record, Tick
from metrics.stats import Aggregate

# The search profile's one phase: long enough for any search; the run stops when it is done.
SEARCH_DURATION_S = 6 * 3600


# The baseline's p99 rests on at least this many requests (its 5 slowest), never on a handful.
BASELINE_REQUESTS = 500
BASELINE_MAX_RPS = 25.0


@dataclass
class StepPlan:
    hold_s: float  # how long a run lasts when it does not fail clearly
    settle_s: float  # first seconds of a run, not judged: queues adapt to the new rate
    rest_s: float  # no load between a failed run and the next, so queues drain
    baseline_s: float  # settle included
    baseline_rps: float
    # Near the edge (a pass and a failure within 25 %) runs judge this many times as many
    # seconds. 1: bench/capacity_sim.py measured no gain from 2 once the backlog is judged.
    edge_factor: float = 1.0

    def hold_for(self, search: CapacitySearch) -> float:
        """How long the next run lasts: longer once the bracket is narrow."""
        return self.hold_for_edge() if search.near_edge() else self.hold_s

    @classmethod
    def for_period(cls, period_s: float, start_rps: float, settle_s: float = 3.0,
                   rest_s: float = 5.0) -> StepPlan:
        """Runs long enough for two full metric periods after settling, as the issue asks.

        The baseline is light (half the first step, at most 25 req/s) and long enough that its
        p99 rests on ``BASELINE_REQUESTS`` requests: 20 s at 25 req/s, at least one period.
        """
        baseline_rps = max(1.0, min(BASELINE_MAX_RPS, start_rps / 2))
        judged = min(120.0, max(20.0, period_s, BASELINE_REQUESTS / baseline_rps))
        return cls(hold_s=settle_s + 2 * period_s, settle_s=settle_s, rest_s=rest_s,
                   baseline_s=settle_s + math.ceil(judged), baseline_rps=baseline_rps)

    def describe(self, search: CapacitySearch) -> str:
        """What the search will do, in one line (the session's start line says it)."""
        confirm = ("a failing run is re-run to confirm it (best of three)"
                   + (", and so is the highest pass" if search.confirm_edge else "")
                   if search.confirm else "a failing run is believed at once")
        unit = search.unit
        edge = (f"; near the edge runs of {self.hold_for_edge():g} s"
                if self.edge_factor != 1 else "")
        return (f"baseline {self.baseline_rps:g} {unit} for {self.baseline_s:g} s, then from "
                f"{search.start_rps:g} {unit} x{search.growth:g} while runs pass, bisection to "
                f"{100 * search.tolerance:g}%; runs of {self.hold_s:g} s (first "
                f"{self.settle_s:g} s not judged){edge}; {confirm}")

    def hold_for_edge(self) -> float:
        return self.settle_s + (self.hold_s - self.settle_s) * self.edge_factor


@dataclass
class HoldJudge:
    """Judges one run second by second, and the run as a whole at its end.

    A run fails clearly only when several judged seconds in a row are each twice past an
    objective (``Objectives.clear_persist_s``), so one spike does not end it. ``measure(first,
    last, stopped_early, overloaded_s)`` gives the figures of a span of seconds; ``in_flight``
    the requests in flight at the end of a second. ``CapacityRun`` feeds it live ticks;
    ``bench/capacity_sim.py`` a simulated endpoint.
    """

    search: CapacitySearch
    rate: float
    first: int  # the first judged second (after settling)
    last: int
    measure: Callable[..., StepResult]
    in_flight: Callable[[int], int]
    streak: int = 0
    longest: int = 0
    judged: int = 0  # seconds judged one by one
    slow: int = 0  # of which with their own p99 over the objective (or nothing completed)

    def second_done(self, second: int) -> StepResult | None:
        """Judge one more second; the run's figures if it has failed clearly, else None."""
        one = self.measure(second, second)
        objective = self.search.latency_objective_ms
        self.judged += 1
        self.slow += objective is not None and (one.p99_ms is None or one.p99_ms >= objective)
        self.streak = self.streak + 1 if self.search.clearly_over(one) else 0
        self.longest = max(self.longest, self.streak)
        partial = self.measure(self.first, second, True, self.longest)
        if self.streak and self.search.step_should_stop(partial):
            return partial
        return None

    def result(self) -> StepResult:
        result = self.measure(self.first, self.last, overloaded_s=self.longest)
        return dataclasses.replace(result, backlog_growth=self.backlog_growth(),
                                   slow_share=self.slow / self.judged if self.judged else None)

    def backlog_growth(self) -> float | None:
        """The least-squares slope of the requests in flight over the judged seconds, per
        second, as a share of the rate: about 0 while the server keeps up, the share it
        falls behind by once past capacity (Little: a growing queue is growing latency)."""
        seconds = list(range(self.first, self.last + 1))
        if len(seconds) < 4 or self.rate <= 0:
            return None
        flight = [self.in_flight(s) for s in seconds]
        mean_s, mean_f = sum(seconds) / len(seconds), sum(flight) / len(flight)
        slope = sum((s - mean_s) * (f - mean_f) for s, f in zip(seconds, flight, strict=True)) \
            / sum((s - mean_s) ** 2 for s in seconds)
        return slope / self.rate


def search_profile(profile: Profile, start_rps: float) -> Profile:
    """The profile's target and requests, with one long constant phase the search steers."""
    return dataclasses.replace(
        profile, phases=[Phase("capacity search", SEARCH_DURATION_S, start_rps, start_rps)],
        ensure={})


@dataclass
class CapacityRun:
    search: CapacitySearch
    plan: StepPlan
    safety_factor: float = 0.5
    ticks: list[Tick] = field(default_factory=list)
    model_latency: dict[float, float] = field(default_factory=dict)  # period start -> ms
    result: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # said as events when the search starts
    slo_source: str = ""  # a streaming search: where its TTFT/TPOT SLOs came from
    finished: bool = False  # the search reached its end (with or without an answer)
    _new_tick: asyncio.Event = field(default_factory=asyncio.Event)

    def observe(self, record: Record) -> None:
        """Subscribe this to the session: it keeps what judging steps needs."""
        if isinstance(record, Tick):
            self.ticks.append(record)
            self._new_tick.set()
        elif isinstance(record, Datapoint) and record.metric == "ModelLatency" \
                and record.stat == "Average":
            self.model_latency[record.t] = record.value

    async def _wait_ticks(self, session: Session, until_second: int) -> None:
        while not self.ticks or self.ticks[-1].second < until_second:
            if session.reason is not None:  # killed or stopped: no more ticks will come
                raise asyncio.CancelledError
            self._new_tick.clear()
            await self._new_tick.wait()

    def _measure(self, rate: float, first: int, last: int, epoch0: float,
                 stopped_early: bool = False, overloaded_s: int = 0) -> StepResult:
        window = [t for t in self.ticks if first <= t.second <= last]
        agg = Aggregate().extend(window)
        snap = agg.snapshot()
        agg.release()
        llm = capacity_llm.measure(window) if self.search.objectives.streaming else {}
        start, end = epoch0 + first, epoch0 + last + 1
        model = [v for t, v in self.model_latency.items() if start <= t and t < end]
        return StepResult(
            rate=rate,
            achieved_rps=snap["achieved_rps"],
            error_rate=snap["error_rate"],
            p99_ms=snap["latency_ms"]["p99"],
            p50_ms=snap["latency_ms"]["p50"],
            requests=snap["requests"],
            server_model_latency_ms=sum(model) / len(model) if model else None,
            stopped_early=stopped_early,
            overloaded_s=overloaded_s,
            seconds=snap["seconds"],
            **llm,
        )

    async def _hold(self, session: Session, rate: float, seconds: float,
                    judge_early: bool) -> StepResult:
        """Send ``rate`` for ``seconds`` (or until a clear failure) and measure the run.

        ``HoldJudge`` checks each judged second as its tick arrives (see there).
        """
        session.set_rate(rate)
        begin = math.ceil(session.elapsed())
        epoch0 = session.epoch0

        def measure(first: int, last: int, stopped_early: bool = False,
                    overloaded_s: int = 0) -> StepResult:
            return self._measure(rate, first, last, epoch0, stopped_early, overloaded_s)

        hold = HoldJudge(self.search, rate, begin + int(self.plan.settle_s),
                         begin + max(int(seconds), 1) - 1, measure, self._in_flight)
        for second in range(hold.first, hold.last + 1):
            await self._wait_ticks(session, second)
            if judge_early and (stopped := hold.second_done(second)) is not None:
                return stopped
        return hold.result()

    def _in_flight(self, second: int) -> int:
        """Requests in flight at the end of ``second`` (every worker's tick of it)."""
        return sum(t.in_flight for t in self.ticks if t.second == second)

    async def run(self, session: Session) -> None:
        """The producer: baseline, steps, result; then it stops the session."""
        try:
            await self._run(session)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a search that breaks still leaves a finished recording
            self.error = f"{type(exc).__name__}: {exc}"
            session.event("capacity", "capacity_failed", f"capacity search failed: {self.error}")
            session.stop()

    async def _run(self, session: Session) -> None:
        plan, search = self.plan, self.search
        for note in self.notes:
            session.event("capacity", "capacity_plan", note)
        session.event("capacity", "capacity_baseline",
                      f"baseline: {plan.baseline_rps:g} {search.unit} for {plan.baseline_s:g} s",
                      rate=plan.baseline_rps)
        baseline = await self._hold(session, plan.baseline_rps, plan.baseline_s, False)
        judged = (self._streaming_baseline if search.objectives.streaming else self._baseline)
        if not judged(session, baseline):
            return
        unit = search.unit
        previous: Verdict | None = None
        while (rate := search.next_rate()) is not None:
            if previous is not None and not previous.passed and plan.rest_s > 0:
                session.set_rate(0.0)
                await asyncio.sleep(plan.rest_s)
                if search.objectives.streaming:
                    await self._drain(session)
            run = search.run_number(rate)
            session.event("capacity", "capacity_step",
                          f"step: {rate:g} {unit}" + (f" (run {run}, to confirm)" if run > 1
                                                      else ""), rate=rate, run=run, unit=unit)
            result = await self._hold(session, rate, plan.hold_for(search), True)
            verdict = search.record(result)
            previous = verdict
            self.steps.append({"rate": rate, "run": run, "passed": verdict.passed,
                               "clear": verdict.clear, "reasons": list(verdict.reasons),
                               "rate_passes": search.outcome(rate),
                               **dataclasses.asdict(result)})
            session.event("capacity", "capacity_verdict", self._verdict_line(result, verdict),
                          **self.steps[-1])
        self.result = search.recommendation(self.safety_factor)
        self.finished = True
        if self.result is None:
            session.event("capacity", "capacity_result",
                          "no step passed: the endpoint does not sustain even "
                          f"{min(r.rate for r, _ in search.history):g} {unit}"
                          if search.history else "no step ran")
        elif search.objectives.streaming:
            session.event("capacity", "capacity_result",
                          f"one instance sustains {capacity_llm.answer_line(self.result)} "
                          f"({describe_spread(self.result['spread'])}); "
                          f"{self.result['formula']}", **self.result)
        else:
            session.event("capacity", "capacity_result",
                          f"one instance sustains {self.result['max_rps']:g} req/s "
                          f"({describe_spread(self.result['spread'])}); "
                          f"{self.result['formula']}", **self.result)
        session.stop()

    async def _drain(self, session: Session) -> None:
        """Rest until the requests in flight have ended (at most one request timeout).

        An LLM instance queues hundreds of streams of seconds each: five seconds without load
        leave its queue full, and the next step would judge the last one's backlog."""
        limit = session.elapsed() + session.profile.load.timeout + 2
        while self.ticks and self.ticks[-1].in_flight > 0 and session.elapsed() < limit:
            await self._wait_ticks(session, self.ticks[-1].second + 1)

    def _streaming_baseline(self, session: Session, baseline: StepResult) -> bool:
        """Check the endpoint streams unloaded and say the objectives; False: it does not."""
        objectives = self.search.objectives
        if baseline.goodput_pct is None:
            seconds = f"{baseline.seconds} judged second{'s' if baseline.seconds != 1 else ''}"
            self.error = (f"no stream ended in the baseline's {seconds}: "
                          "the answers take longer than that (give --hold more seconds) or the "
                          "endpoint does not answer")
        elif baseline.error_rate >= objectives.max_error_rate:
            self.error = (f"the endpoint fails even unloaded ({100 * baseline.error_rate:.0f}% "
                          "errors): check the target and the requests")
        if self.error:
            session.event("capacity", "capacity_failed", self.error)
            session.stop()
            return False
        settle = ""
        if objectives.min_achieved:  # a rate search: judge the requests sent in the step
            longer = capacity_llm.settle_for(baseline.p99_ms, self.plan.settle_s)
            if longer > self.plan.settle_s:
                self.plan.hold_s += longer - self.plan.settle_s
                self.plan.settle_s = longer
                settle = (f"; steps now last {self.plan.hold_s:g} s, the first {longer:g} s "
                          "not judged (twice the unloaded p99 of a whole answer)")
        session.event("capacity", "capacity_objectives",
                      f"unloaded: {capacity_llm.step_figures(baseline)} over {baseline.ended} "
                      f"streams; {capacity_llm.describe_objectives(objectives)}{settle}",
                      unit=self.search.unit, baseline_ended=baseline.ended,
                      unloaded_ttft_p99_ms=baseline.ttft_p99_ms,
                      unloaded_tpot_p99_ms=baseline.tpot_p99_ms,
                      unloaded_goodput_pct=baseline.goodput_pct,
                      slo_ttft_ms=objectives.slo_ttft_ms, slo_tpot_ms=objectives.slo_tpot_ms,
                      min_goodput_pct=100 * (objectives.min_goodput or 0),
                      slo_source=self.slo_source, settle_s=self.plan.settle_s,
                      hold_s=self.plan.hold_s)
        return True

    def _baseline(self, session: Session, baseline: StepResult) -> bool:
        """Set the latency objective from the unloaded run; False: the endpoint fails."""
        search = self.search
        if baseline.p99_ms is None or baseline.error_rate >= search.objectives.max_error_rate:
            self.error = (f"the endpoint fails even unloaded ({100 * baseline.error_rate:.0f}% "
                          "errors): check the target and the requests")
            session.event("capacity", "capacity_failed", self.error)
            session.stop()
            return False
        search.set_baseline(baseline.p99_ms)
        session.event("capacity", "capacity_objectives",
                      f"unloaded p99 {baseline.p99_ms:.1f} ms over {baseline.requests} "
                      f"requests; a run passes under {100 * search.objectives.max_error_rate:g}% "
                      f"errors, p99 under {search.latency_objective_ms:.0f} ms"
                      + ("" if search.strict_latency else
                         " (a p99 over it fails a run only while the backlog grows, or when "
                         "twice past it)")
                      + ", and at least "
                      f"{100 * search.objectives.min_achieved:g}% of the offered rate",
                      unloaded_p99_ms=baseline.p99_ms, baseline_requests=baseline.requests,
                      latency_objective_ms=search.latency_objective_ms)
        return True

    def _verdict_line(self, result: StepResult, verdict: Verdict) -> str:
        """``600 req/s FAILED: ... — stopped early; re-running to confirm``."""
        unit = self.search.unit
        if self.search.objectives.streaming:
            figures = capacity_llm.step_figures(result)
        else:
            figures = (f"p99 {result.p99_ms:.1f} ms" if result.p99_ms is not None
                       else "no responses") + (f", errors {100 * result.error_rate:.1f}%, "
                                               f"achieved {result.achieved_rps:.0f} req/s")
        line = (f"{result.rate:g} {unit} {'passed' if verdict.passed else 'FAILED'}: {figures}"
                + (f" ({'; '.join(verdict.reasons)})" if verdict.reasons else "")
                + (" — stopped early" if result.stopped_early else ""))
        if self.search.pending == result.rate:
            return line + "; not believed yet: re-running it"
        runs = self.search.decided.get(result.rate) or []
        if len(runs) > 1:
            decided = "passes" if self.search.outcome(result.rate) else "fails"
            return line + (f"; {result.rate:g} {unit} {decided} ({runs.count(True)} of "
                           f"{len(runs)} runs passed)")
        return line


def objectives_from(max_error_rate_percent: float, latency_ms: float | None,
                    min_goodput_percent: float | None = None, slo_ttft_ms: float | None = None,
                    slo_tpot_ms: float | None = None, concurrency: bool = False) -> Objectives:
    """From the command line; goodput and SLOs for a streaming target (see capacity_llm).

    A concurrency search does not check the achieved rate: its steps are requests in flight.
    """
    return Objectives(max_error_rate=max_error_rate_percent / 100.0,
                      latency_objective_ms=latency_ms,
                      min_achieved=0.0 if concurrency else Objectives().min_achieved,
                      min_goodput=None if min_goodput_percent is None
                      else min_goodput_percent / 100.0,
                      slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms)


def judge_for(objectives: Objectives) -> StepJudge:
    """The judge ``objectives`` ask for: goodput for a streaming target, else the plain one."""
    return capacity_llm.StreamingJudge() if objectives.streaming else PlainJudge()

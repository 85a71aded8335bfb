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
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from driver.capacity import llm as capacity_llm
from driver.capacity.recovery import (
    RecoveryGate,
    RecoveryRule,
    contaminated,
    needs_recovery,
)
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


EDGE_FACTOR = 1.5  # bench/capacity_sim.py: see docs/capacity.md


@dataclass
class StepPlan:
    hold_s: float  # how long a run lasts when it does not fail clearly
    settle_s: float  # first seconds of a run, not judged: queues adapt to the new rate
    rest_s: float  # no load between a failed run and the next, so queues drain
    baseline_s: float  # settle included
    baseline_rps: float
    # Near the edge (a pass and a failure within 25 %) runs judge this many times as many
    # seconds, in more windows (``WINDOW_S``) for the median p99 to stand on.
    edge_factor: float = EDGE_FACTOR
    # The wait for the target to recover after a failed, cut-short or backlogged run.
    recovery: RecoveryRule = field(default_factory=RecoveryRule)

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
        careful = (f" (x{search.careful_growth:g} once latency bends)"
                   if search.careful_growth > 1 and not search.objectives.streaming else "")
        recovery = (f"; {self.recovery.describe()}" if self.gated(search) else "")
        return (f"baseline {self.baseline_rps:g} {unit} for {self.baseline_s:g} s, then from "
                f"{search.start_rps:g} {unit} x{search.growth:g}{careful} while runs pass, "
                f"bisection to {100 * search.tolerance:g}%; runs of {self.hold_s:g} s (first "
                f"{self.settle_s:g} s not judged){edge}; {confirm}{recovery}")

    def gated(self, search: CapacitySearch) -> bool:
        """Whether runs wait for recovery (a plain req/s search; a streaming one drains)."""
        return self.recovery.enabled and not search.objectives.streaming \
            and search.unit == "req/s"

    def hold_for_edge(self) -> float:
        return self.settle_s + math.ceil((self.hold_s - self.settle_s) * self.edge_factor)


# A run's judged seconds are also judged in windows of this many; with three windows or more
# the run's p99 is judged as their median (``StepResult.judged_p99_ms``).
WINDOW_S = 5


@dataclass
class HoldJudge:
    """Judges one run second by second, and the run as a whole at its end.

    A run fails clearly only when several seconds in a row are each twice past an objective
    (``Objectives.clear_persist_s``), so one spike does not end it; the settling seconds
    (from ``begin``) count too, so a run far past capacity ends within seconds.
    ``measure(first, last, stopped_early, overloaded_s)`` gives the figures of a span of
    seconds; ``in_flight`` the requests in flight in a second. ``CapacityRun``
    feeds it live ticks; ``bench/capacity_sim.py`` a simulated endpoint.
    """

    search: CapacitySearch
    rate: float
    first: int  # the first judged second (after settling)
    last: int
    measure: Callable[..., StepResult]
    in_flight: Callable[[int], float]
    begin: int | None = None  # the run's first second (None: ``first``)
    streak: int = 0
    longest: int = 0
    judged: int = 0  # seconds judged one by one
    slow: int = 0  # of which with their own p99 over the objective (or nothing completed)
    seconds_p50: list[float | None] = field(default_factory=list)  # each judged second's

    def __post_init__(self) -> None:
        objectives = self.search.objectives
        # A streaming step's settling seconds end the previous step's streams: not its own.
        if self.begin is None or not objectives.early_clear or objectives.streaming:
            self.begin = self.first

    def second_done(self, second: int) -> StepResult | None:
        """Judge one more second; the run's figures if it has failed clearly, else None."""
        end = self.in_flight(second)
        one = dataclasses.replace(self.measure(second, second), in_flight_end=end,
                                  in_flight_change=end - self.in_flight(second - 1))
        objective = self.search.latency_objective_ms
        if second >= self.first:
            self.judged += 1
            self.slow += objective is not None and (one.p99_ms is None
                                                    or one.p99_ms >= objective)
            self.seconds_p50.append(one.p50_ms)
        self.streak = self.streak + 1 if self.search.clearly_over(one) else 0
        self.longest = max(self.longest, self.streak)
        start = self.first if second >= self.first else self.begin
        partial = dataclasses.replace(self.measure(start, second, True, self.longest),
                                      in_flight_end=one.in_flight_end,
                                      in_flight_change=one.in_flight_change)
        if self.streak and self.search.step_should_stop(partial):
            return partial
        return None

    def result(self) -> StepResult:
        result = self.measure(self.first, self.last, overloaded_s=self.longest)
        windows = self.window_p99s()
        result = dataclasses.replace(
            result, backlog_growth=self.backlog_growth(),
            slow_share=self.slow / self.judged if self.judged else None,
            in_flight_end=self.in_flight(self.last),
            window_p99_ms=windows or None,
            judged_p99_ms=statistics.median(windows)
            if len(windows) >= 3 and self.search.objectives.window_median else None)
        objective = self.search.latency_objective_ms
        if objective is not None and not self.search.objectives.streaming and contaminated(
                self.seconds_p50, result, objective, self.search.objectives.backlog_limit):
            result = dataclasses.replace(result, contaminated=True)
        return result

    def window_p99s(self) -> tuple[float, ...]:
        """The p99 of each whole window of ``WINDOW_S`` judged seconds (a short tail joins
        the last window); empty when a window had no success."""
        count = (self.last - self.first + 1) // WINDOW_S
        found = []
        for i in range(count):
            end = self.last if i == count - 1 else self.first + (i + 1) * WINDOW_S - 1
            p99 = self.measure(self.first + i * WINDOW_S, end).p99_ms
            if p99 is None:
                return ()
            found.append(p99)
        return tuple(found)

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
    # The target did not recover after a run: the search ended there, its answer flagged.
    unrecovered: bool = False
    waits: list[dict[str, Any]] = field(default_factory=list)  # each recovery wait
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
                    judge_early: bool, settle_s: float | None = None) -> StepResult:
        """Send ``rate`` for ``seconds`` (or until a clear failure) and measure the run.

        ``HoldJudge`` checks each second as its tick arrives (see there).
        """
        settle = self.plan.settle_s if settle_s is None else settle_s
        session.set_rate(rate)
        begin = math.ceil(session.elapsed())
        epoch0 = session.epoch0

        def measure(first: int, last: int, stopped_early: bool = False,
                    overloaded_s: int = 0) -> StepResult:
            return self._measure(rate, first, last, epoch0, stopped_early, overloaded_s)

        hold = HoldJudge(self.search, rate, begin + int(settle),
                         begin + max(int(seconds), 1) - 1, measure, self._in_flight, begin)
        for second in range(begin if judge_early else hold.first, hold.last + 1):
            await self._wait_ticks(session, second)
            if judge_early and (stopped := hold.second_done(second)) is not None:
                return stopped
        return hold.result()

    def _in_flight(self, second: int) -> float:
        """Requests in flight in ``second``: every worker's tick of it, each the worker's
        time-weighted mean over the second (recordings before issue 25: at its end)."""
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
        recover = False  # the last run left the target to recover (see needs_recovery)
        while (rate := search.next_rate()) is not None:
            wait: dict[str, Any] = {}
            if recover and plan.gated(search):
                wait = await self._recover(session)
                if not wait["recovered"]:
                    self.unrecovered = True
                    break
            elif previous is not None and not previous.passed and plan.rest_s > 0:
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
            recover = needs_recovery(result, verdict, search)
            self.steps.append({"rate": rate, "run": run, "passed": verdict.passed,
                               "clear": verdict.clear, "reasons": list(verdict.reasons),
                               "rate_passes": search.outcome(rate),
                               "contaminated": verdict.contaminated,
                               "recovery_s": wait.get("waited_s", 0.0),
                               "recovery_probes": wait.get("probes", 0),
                               **dataclasses.asdict(result)})
            session.event("capacity", "capacity_verdict", self._verdict_line(result, verdict),
                          **self.steps[-1])
        self.result = search.recommendation(self.safety_factor)
        self.finished = True
        if self.result is not None:
            self.result["recovery_waits_s"] = [w["waited_s"] for w in self.waits]
            self.result["recovered"] = not self.unrecovered
        if self.unrecovered:
            wait = self.waits[-1]
            message = (f"the target did not recover within {wait['waited_s']:.0f} s of the "
                       "last run: the search ends here")
            if self.result is None:
                session.event("capacity", "capacity_result", message + "; no step had passed",
                              recovered=False)
            else:
                session.event("capacity", "capacity_result",
                              f"{message}; the answer so far, not confirmed: one instance "
                              f"sustains {self.result['max_rps']:g} req/s "
                              f"({describe_spread(self.result['spread'])}); "
                              f"{self.result['formula']}", **self.result)
        elif self.result is None:
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

    async def _recover(self, session: Session) -> dict[str, Any]:
        """Wait until the target has recovered from the last run (``driver.capacity.recovery``):
        no load until nothing of ours is in flight, then probes at the baseline rate; the wait,
        its probes and whether it recovered, said as events and kept in ``waits``."""
        plan, search = self.plan, self.search
        rule = plan.recovery
        session.set_rate(0.0)
        objective = search.latency_objective_ms
        assert objective is not None
        gate = RecoveryGate(rule, session.elapsed(), search.unloaded_p50_ms, objective,
                            search.objectives.max_error_rate)
        session.event("capacity", "capacity_recovery",
                      "recovering: no load until nothing is in flight, then "
                      f"{rule.probe_s:g} s probes at {plan.baseline_rps:g} req/s until latency "
                      f"is back near unloaded (at most {rule.max_wait_s:g} s)")
        while True:
            action, value = gate.next_action(session.elapsed())
            if action == "drain":
                await self._drain(session, value)
                gate.drained(session.elapsed())
            elif action == "probe":
                probe = await self._hold(session, plan.baseline_rps, value, False, 0.0)
                session.set_rate(0.0)
                ok = gate.probed(probe, session.elapsed())
                session.event("capacity", "capacity_probe",
                              f"recovery probe {len(gate.probes)}: {gate.probes[-1]}"
                              + ("" if ok else f"; waiting {rule.pause_s:g} s"),
                              recovered=ok, p50_ms=probe.p50_ms, p99_ms=probe.p99_ms,
                              error_rate=probe.error_rate, in_flight_end=probe.in_flight_end)
            elif action == "pause":
                await asyncio.sleep(value)
                gate.paused()
            else:
                break
        wait = {"recovered": action == "recovered", "waited_s": round(gate.waited, 1),
                "probes": len(gate.probes)}
        self.waits.append(wait)
        session.event("capacity", "capacity_recovered" if wait["recovered"] else
                      "capacity_unrecovered",
                      (f"recovered after {wait['waited_s']:g} s ({wait['probes']} probe"
                       f"{'s' if wait['probes'] != 1 else ''})") if wait["recovered"] else
                      f"not recovered after {wait['waited_s']:g} s ({wait['probes']} probes)",
                      **wait)
        return wait

    async def _drain(self, session: Session, deadline: float | None = None) -> None:
        """Rest until the requests in flight have ended (at most one request timeout).

        An LLM instance queues hundreds of streams of seconds each: five seconds without load
        leave its queue full, and the next step would judge the last one's backlog. Every
        worker's tick of the last second counts; ``deadline`` (elapsed s) ends it sooner."""
        limit = session.elapsed() + session.profile.load.timeout + 2
        if deadline is not None:
            limit = min(limit, deadline)
        while self.ticks and self._in_flight(self.ticks[-1].second) > 0 \
                and session.elapsed() < limit:
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
        search.set_baseline(baseline.p99_ms, baseline.p50_ms)
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
        if verdict.contaminated:
            return (f"{result.rate:g} {unit} set aside: {figures}; its first judged seconds were "
                    "slow and its last were not, its backlog falling: it inherited the last "
                    "run's queue, so it runs again after recovery and is not counted")
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

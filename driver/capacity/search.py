"""Finding the highest rate one instance sustains, and the scaling target that follows.

The search is a pure state machine (``CapacitySearch``): it proposes a rate, is told how the
run at that rate went (``StepResult``), and proposes the next, so its logic is tested by tables
with a simulated endpoint. ``run_capacity_search`` (in ``driver.capacity.run``) drives it
against a live session.

The procedure, after an unloaded baseline that sets the default latency objective:
1. raise the rate geometrically (x ``growth``) while steps pass; if the very first step
   fails, lower it the same way (/ ``growth``) until one passes;
2. once a rate has passed and a higher one failed, bisect between the highest pass and the
   lowest failure until the gap is within ``tolerance`` of the passing rate;
3. a failing run is not believed at once: the same rate runs again, and a third time when the
   two disagree (best of three), so one noisy run cannot decide the answer; once the bracket
   is narrow the highest pass runs again too (``confirm_edge``) before it becomes the answer;
4. a run that fails *clearly* (errors or latency twice past the objective for several
   consecutive seconds: overload that persists, not one spike) is cut short; no rate above a
   confirmed failure is ever tried: the search does not overload further than it must.

A run passes while the error rate stays under ``max_error_rate``, the backlog does not grow
(``backlog_limit``), client p99 under ``latency_objective_ms``, and the achieved rate within
``min_achieved`` of the offered rate. A derived objective (none given) is judged with the
backlog: see ``judge``; ``bench/capacity_sim.py`` measures what each rule does to the spread.
AWS's load-testing guidance turns the answer into a policy:
``target = max_rps x safety_factor x 60`` invocations per instance per minute.

How a run is judged and what the answer is belong to the search's judge (a ``StepJudge``),
handed in by whoever builds the search: ``PlainJudge`` here (the rules above) by default. A
streaming LLM target (``Objectives.min_goodput`` set) gets ``driver.capacity.llm``'s
``StreamingJudge``: goodput under its TTFT and TPOT SLOs, answered with a
``ConcurrentRequestsPerModel`` target (``driver.capacity.run.judge_for`` picks the one the
objectives ask for). Either way the search runs in req/s or in requests in flight (``unit``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Objectives:
    max_error_rate: float = 0.05  # as the blog: no more than 5 % errors
    latency_objective_ms: float | None = None  # None: derived from the unloaded p99
    min_achieved: float = 0.95  # achieved rate within 5 % of the offered rate
    clear_failure_factor: float = 2.0  # this far past an objective, a second is overloaded
    clear_persist_s: int = 3  # and this many overloaded seconds in a row fail a run clearly
    # Seen from a run's first second (its settling too) and in its queue as it builds
    # (``queued_past``): a run far past capacity ends before it buries the target.
    early_clear: bool = True
    # A second counts as clearly overloaded on its latency or its queue only while the queue
    # is not draining (``draining``): a queue going down is a stall's aftermath that the
    # server is catching up with, not overload; past capacity the queue grows (or the server
    # sheds, which errors show). Off: any slow second counts, draining or not (issue 22).
    clear_needs_growth: bool = True
    # A run of three windows or more is judged on the median of their p99s (``judged_p99``).
    window_median: bool = True
    # A streaming LLM target: a run passes while this share of the requests that ended met
    # both SLOs (goodput); None for any other target. The SLOs are for the lines and FAIL!.
    min_goodput: float | None = None
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None

    @property
    def streaming(self) -> bool:
        return self.min_goodput is not None
    # The backlog grows by this share of the offered rate per second or more: over capacity.
    # With the derived objective (none given), a p99 over it fails a run only with a growing
    # backlog or when twice past it; a given ``latency_objective_ms`` is kept strictly.
    backlog_limit: float | None = 0.01


# The objective stays this far above the unloaded p99 however fast the model is: one garbage
# collection or a neighbour's burst costs tens of milliseconds, while overload past capacity
# queues requests for hundreds (the blog: under 15 ms below capacity, over 300 ms past it).
OBJECTIVE_FLOOR_MS = 50.0


def default_latency_objective(unloaded_p99_ms: float) -> float:
    """Four times the unloaded p99, and at least 50 ms above it.

    Under capacity a model's latency barely moves with load; past it queues form and latency
    climbs by orders of magnitude, so a generous margin separates the two regimes without
    reacting to noise: 4 x a 7 ms p99 (28 ms) is within reach of one pause in a worker.
    """
    return max(4.0 * unloaded_p99_ms, unloaded_p99_ms + OBJECTIVE_FLOOR_MS)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one run at ``rate`` produced, from the client (and the server where known)."""

    rate: float
    achieved_rps: float
    error_rate: float
    p99_ms: float | None
    p50_ms: float | None = None
    requests: int = 0
    server_model_latency_ms: float | None = None
    server_5xx: float | None = None
    stopped_early: bool = False
    overloaded_s: int = 0  # the longest run of consecutive seconds each clearly overloaded
    # Streaming LLM targets only (driver.capacity.llm.measure): ms, tokens/s, % of ``ended``.
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    tpot_p50_ms: float | None = None
    tpot_p99_ms: float | None = None
    output_tokens_per_s: float | None = None
    goodput_pct: float | None = None
    ended: int = 0  # requests that completed in the window, ok or failed
    in_flight_mean: float | None = None  # the client's requests in flight, mean of the seconds
    seconds: int = 0  # judged seconds (0: unknown)
    # How fast requests piled up, as a share of the offered rate: the slope of the requests in
    # flight at each judged second's end, per second, over ``rate`` (None: not measured).
    backlog_growth: float | None = None
    # The share of the judged seconds whose own p99 was over the objective (None: not judged
    # second by second). Past capacity most seconds are slow; a stall makes a few slow.
    slow_share: float | None = None
    # The client's requests in flight in the run's last second (or the second judged): the
    # workers' time-weighted means summed (recordings before issue 25: at the second's end).
    in_flight_end: float | None = None
    # One judged second's: its requests in flight minus the second before's (None: a whole
    # run, or not known). Below 0 the queue drains (``draining``).
    in_flight_change: float | None = None
    # The p99 of each judged window (``driver.capacity.run.WINDOW_S`` seconds each) and their
    # median, the p99 judged when there are three windows or more: one burst sways one window.
    window_p99_ms: tuple[float, ...] | None = None
    judged_p99_ms: float | None = None
    # The run's first judged seconds were slow and its last were not, its backlog falling: it
    # inherited the previous run's queue (see ``driver.capacity.recovery``); not evidence.
    contaminated: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    clear: bool  # failed by far, persistently: the run was (or may be) cut short
    reasons: tuple[str, ...]
    contaminated: bool = False  # not judged: the run inherited a queue; it runs again


CLEAR_FAILURE_NOTE = ("FAIL! is a clear failure: the overload persisted for seconds, so the run "
                      "was cut short; no rate above a confirmed failure was tried")


CONTAMINATED_NOTE = ("aside: the run's first judged seconds were slow and its last were not, "
                     "its backlog falling: it inherited the previous run's queue, was not "
                     "counted, and ran again after the target recovered")


def verdict_label(passed: bool, clear: bool) -> str:
    """``pass``, ``FAIL`` or ``FAIL!`` (a clear failure), as the step tables show it."""
    return "pass" if passed else ("FAIL!" if clear else "FAIL")


def clearly_over(result: StepResult, objectives: Objectives, latency_objective_ms: float) -> bool:
    """Whether ``result`` (typically one second) is twice past an objective, or got nothing.
    Errors always count; a long queue or a slow second only while the queue is not draining
    (``Objectives.clear_needs_growth``)."""
    factor = objectives.clear_failure_factor
    catching_up = objectives.clear_needs_growth and draining(result)
    if objectives.early_clear and not catching_up \
            and queued_past(result, latency_objective_ms * factor):
        return True
    if result.p99_ms is None:
        return result.rate >= 5  # several requests were due and none succeeded
    if result.error_rate >= min(1.0, objectives.max_error_rate * factor):
        return True
    return not catching_up and result.p99_ms >= latency_objective_ms * factor


def draining(result: StepResult) -> bool:
    """Whether the second's queue went down: fewer requests in flight in it than in the second
    before. A server past capacity falls further behind every second; one that stalled (a
    throttled period of a capped CPU, a neighbour's burst) or inherited a queue catches up,
    and its slow answers then are the stall's, not the rate's (issue 22: runs at rates a
    capped server sustained for 120 s were cut short by the queue of their first seconds)."""
    return result.in_flight_change is not None and result.in_flight_change < 0


# A queue this long is not noise: at least this many requests in flight, whatever the rate.
QUEUED_MIN = 20


def queued_past(result: StepResult, latency_ms: float) -> bool:
    """Whether more requests are in flight than ``latency_ms`` of the rate (Little's law: a
    request arriving now waits longer than that), and at least ``QUEUED_MIN``: overload seen
    as it builds, before the slow answers come back."""
    flight = result.in_flight_end
    return flight is not None and result.rate > 0 and flight >= QUEUED_MIN \
        and flight > result.rate * latency_ms / 1000


def judge(result: StepResult, objectives: Objectives, latency_objective_ms: float,
          strict_latency: bool = True) -> Verdict:
    """Pass or fail, and why. ``strict_latency`` False (the objective was derived, not given):
    a p99 over the objective fails the run only when its backlog grew (completions fell behind
    sends), the server shed load (errors on 1 % or more), or most seconds were slow
    (``persistently_slow``) — near capacity the tail crosses a fixed line by chance, and one
    stall of a shared box lifts a run's p99, while the server keeps up; past it the backlog
    grows for the whole run, or a full queue turns the excess away. A run too short to judge
    its backlog is held to the objective strictly. A streaming target is judged on goodput
    instead, by ``driver.capacity.llm.StreamingJudge``."""
    reasons = []
    if result.error_rate >= objectives.max_error_rate:
        reasons.append(f"errors {100 * result.error_rate:.1f}% ≥ "
                       f"{100 * objectives.max_error_rate:g}%")
    growing = backlog_grows(result, objectives)
    if growing:
        reasons.append(f"backlog grew {100 * (result.backlog_growth or 0):.1f}% of the rate "
                       "per second")
    p99 = judged_p99(result)
    if p99 is None:
        reasons.append("no request completed")
    elif p99 >= latency_objective_ms and (
            strict_latency or growing or shedding(result, objectives)
            or not backlog_known(result, objectives) or persistently_slow(
                result, objectives, latency_objective_ms)):
        windows = " (median of the windows' p99)" if result.judged_p99_ms is not None else ""
        reasons.append(f"p99 {p99:.0f} ms{windows} ≥ {latency_objective_ms:.0f} ms")
    if objectives.early_clear and result.stopped_early and queued_past(
            result, latency_objective_ms * objectives.clear_failure_factor):
        # Judged only to cut a run short: a whole run is judged on its backlog's slope.
        reasons.append(f"{result.in_flight_end:.0f} in flight: over "
                       f"{objectives.clear_failure_factor:g}x the objective's worth of the rate")
    if result.rate > 0 and result.achieved_rps < objectives.min_achieved * result.rate:
        reasons.append(f"achieved {result.achieved_rps:.0f} of {result.rate:.0f} req/s")
    # Clear: twice past an objective over the run, and for seconds on end, not in one spike.
    clear = bool(reasons) and (result.p99_ms is None or (
        result.overloaded_s >= objectives.clear_persist_s
        and clearly_over(result, objectives, latency_objective_ms)))
    return Verdict(not reasons, clear, tuple(reasons))


def judged_p99(result: StepResult) -> float | None:
    """The p99 a run is judged on: the median of its windows' p99 when it had three windows
    or more (a burst sways one window, not the median), else the whole run's."""
    return result.judged_p99_ms if result.judged_p99_ms is not None else result.p99_ms


def backlog_known(result: StepResult, objectives: Objectives) -> bool:
    """Whether the backlog was judged (a run of at least 4 judged seconds, the rule on)."""
    return objectives.backlog_limit is not None and result.backlog_growth is not None


BEND_P50 = 1.5  # a pass whose p50 is this many times the unloaded one: latency bends
MAX_CONTAMINATED = 2  # a rate's runs set aside as contaminated; past this they count

SLOW_SHARE = 0.5  # this share of a run's seconds each with its p99 over the objective: slow
UNSTEADY_BAND = 0.10  # verdicts out of order over a band wider than this: the target moved


def persistently_slow(result: StepResult, objectives: Objectives,
                      latency_objective_ms: float) -> bool:
    """Whether the run was slow throughout, not in a stall: most of its seconds had their p99
    over the objective; where seconds were not judged, the whole run's p99 twice past it."""
    if result.slow_share is not None:
        return result.slow_share >= SLOW_SHARE
    p99 = judged_p99(result)
    return p99 is not None and p99 >= latency_objective_ms * objectives.clear_failure_factor


def shedding(result: StepResult, objectives: Objectives) -> bool:
    """Whether the server turns work away (errors on 1 % or more, the backlog limit's share):
    a full queue that rejects the excess keeps its backlog flat while past capacity."""
    return objectives.backlog_limit is not None and result.error_rate >= objectives.backlog_limit


def backlog_grows(result: StepResult, objectives: Objectives) -> bool:
    """Whether requests piled up through the run: completions fell behind the offered rate."""
    limit = objectives.backlog_limit
    return limit is not None and result.backlog_growth is not None \
        and result.backlog_growth >= limit


class StepJudge(Protocol):
    """How a search judges its runs and words its answer: ``PlainJudge`` or
    ``driver.capacity.llm.StreamingJudge``. ``latency_objective_ms`` is None until the baseline
    sets it (or for ever, for a judge that has no latency objective)."""

    streaming: bool  # judges goodput: the judge for objectives with ``min_goodput`` set

    def verdict(self, result: StepResult, objectives: Objectives,
                latency_objective_ms: float | None, strict_latency: bool) -> Verdict:
        """Pass or fail, and why (see ``judge``)."""
        ...

    def clearly_over(self, result: StepResult, objectives: Objectives,
                     latency_objective_ms: float | None) -> bool:
        """Whether one second (or a run) is twice past an objective."""
        ...

    def recommendation(self, search: CapacitySearch,
                       safety_factor: float) -> dict[str, Any] | None:
        """The answer from the search's highest pass, and the scaling target it implies."""
        ...


class PlainJudge:
    """Errors, client p99, backlog and the achieved rate (``judge``); the answer is an
    ``InvocationsPerInstance`` target: ``MAX_RPS x SAFETY_FACTOR x 60``."""

    streaming = False

    def verdict(self, result: StepResult, objectives: Objectives,
                latency_objective_ms: float | None, strict_latency: bool) -> Verdict:
        return judge(result, objectives, _set(latency_objective_ms), strict_latency)

    def clearly_over(self, result: StepResult, objectives: Objectives,
                     latency_objective_ms: float | None) -> bool:
        return clearly_over(result, objectives, _set(latency_objective_ms))

    def recommendation(self, search: CapacitySearch,
                       safety_factor: float) -> dict[str, Any] | None:
        if search.best_pass is None:
            return None
        best = search.best_pass
        if search.unit != "req/s":  # a concurrency search: the rate it achieved at its best
            best = dataclasses.replace(best, rate=round(best.achieved_rps))
        target = best.rate * safety_factor * 60
        return {
            "max_rps": best.rate,
            "p50_ms": best.p50_ms,
            "p99_ms": best.p99_ms,
            "error_rate": best.error_rate,
            "server_model_latency_ms": best.server_model_latency_ms,
            "first_failing_rps": search.lowest_fail,
            "latency_objective_ms": search.latency_objective_ms,
            "strict_latency": search.strict_latency,
            "max_error_rate": search.objectives.max_error_rate,
            "safety_factor": safety_factor,
            "target": round(target),
            "formula": f"target = MAX_RPS x SAFETY_FACTOR x 60 = {best.rate:g} x "
                       f"{safety_factor:g} x 60 = {round(target)} invocations per instance "
                       "per minute",
            "spread": search.spread(),
        }


def _set(latency_objective_ms: float | None) -> float:
    assert latency_objective_ms is not None, "set_baseline or an objective first"
    return latency_objective_ms


@dataclass
class CapacitySearch:
    """Proposes rates, learns from results; ``done`` once the edge is narrow enough.

    A "rate" is whatever ``unit`` says: req/s, or requests kept in flight (a concurrency
    search). Proposed rates are multiples of ``quantum``; the edge is narrow enough within
    ``tolerance`` or one quantum. ``judge`` judges each run and words the answer; it must be
    the one the objectives ask for (a streaming judge for goodput objectives).
    """

    start_rps: float
    objectives: Objectives = field(default_factory=Objectives)
    judge: StepJudge = field(default_factory=PlainJudge)
    growth: float = 2.0
    # Once the highest pass shows latency bending (``bent``), the climb grows by this instead:
    # doubling from just under capacity overloads the target twice over. 0: never careful.
    careful_growth: float = 1.25
    unloaded_p50_ms: float | None = None  # the baseline's, set by ``set_baseline``
    tolerance: float = 0.05  # stop when (fail - pass) / pass is within this
    max_rps: float = 100_000.0
    min_rps: float = 1.0  # stepping down from a failed start stops here
    max_steps: int = 40  # runs, re-runs included
    confirm: bool = True  # a failed run is re-run (best of three) before it is believed
    confirm_edge: bool = True  # and the highest pass too, before it becomes the answer
    latency_objective_ms: float | None = None
    unit: str = "req/s"
    quantum: float = 1.0
    strict_latency: bool = True  # False once the objective is derived from the baseline
    history: list[tuple[StepResult, Verdict]] = field(default_factory=list)
    best_pass: StepResult | None = None
    lowest_fail: float | None = None
    pending: float | None = None  # a rate whose failure awaits confirmation
    decided: dict[float, list[bool]] = field(default_factory=dict)  # rate -> its runs' passes
    rerun: float | None = None  # a rate whose last run was contaminated: it runs again
    contaminated: dict[float, int] = field(default_factory=dict)  # rate -> runs not counted
    _runs: list[bool] = field(default_factory=list)  # the runs of the rate being decided

    def __post_init__(self) -> None:
        if self.judge.streaming != self.objectives.streaming:
            raise ValueError("goodput objectives (min_goodput) need the streaming judge, and "
                             "only they do: see driver.capacity.run.judge_for")
        if self.latency_objective_ms is None:
            self.latency_objective_ms = self.objectives.latency_objective_ms

    def set_baseline(self, unloaded_p99_ms: float, unloaded_p50_ms: float | None = None) -> None:
        """Derive the latency objective from an unloaded run, unless one was given."""
        self.unloaded_p50_ms = unloaded_p50_ms
        if self.latency_objective_ms is None:
            self.latency_objective_ms = default_latency_objective(unloaded_p99_ms)
            self.strict_latency = False

    @property
    def done(self) -> bool:
        return self.next_rate() is None

    def next_rate(self) -> float | None:
        """The rate of the next run, or None when the search is over."""
        if len(self.history) >= self.max_steps:
            return None
        if self.rerun is not None:
            return self.rerun
        if self.pending is not None:
            return self.pending
        if self.lowest_fail is None:
            if self.best_pass is None:
                return self.start_rps if not self.decided else None
            careful = self.careful_growth > 1 and self.bent(self.best_pass)
            rate = self.best_pass.rate * (self.careful_growth if careful else self.growth)
            if careful or self.unit != "req/s" or self.quantum != 1.0:  # whole, or tenths
                rate = max(self._floor(rate), self.best_pass.rate + self.quantum)
            return rate if rate <= self.max_rps else None
        low = self.best_pass.rate if self.best_pass else 0.0
        if low <= 0:  # nothing passed yet: the start was above capacity, step down
            rate = self._floor(self.lowest_fail / self.growth)
            return rate if rate >= self.min_rps else None
        gap = self.lowest_fail - low
        if gap / low <= self.tolerance or gap <= self.quantum * 1.000001:
            # The answer-to-be passed once: run it again (best of three) before believing it.
            edge_once = self.confirm and self.confirm_edge and len(self.decided[low]) == 1
            return low if edge_once else None
        return self._floor((low + self.lowest_fail) / 2)

    def bent(self, result: StepResult) -> bool:
        """Whether a passing run's latency has started to bend: its p50 half as high again
        as unloaded (and 1 ms more), its p99 past half the objective, or its backlog growing
        at half the limit. Not for a streaming target (its latency follows its outputs)."""
        if self.objectives.streaming or self.latency_objective_ms is None:
            return False
        p50, base = result.p50_ms, self.unloaded_p50_ms
        p99, limit = judged_p99(result), self.objectives.backlog_limit
        return bool(
            (p50 is not None and base is not None and p50 >= BEND_P50 * base + 1.0)
            or (p99 is not None and p99 >= self.latency_objective_ms / 2)
            or (limit is not None and result.backlog_growth is not None
                and result.backlog_growth >= limit / 2))

    def _floor(self, rate: float) -> float:
        """Down to a multiple of ``quantum`` (whole numbers by default)."""
        if self.quantum == 1.0:
            return math.floor(rate)
        return round(math.floor(rate / self.quantum + 1e-9) * self.quantum, 6)

    def run_number(self, rate: float) -> int:
        """1 for a rate's first run; 2 and 3 when it runs again to confirm (a contaminated run
        takes no number: the run after it has the same)."""
        return 1 + len(self._runs if self.pending == rate else self.decided.get(rate, []))

    def near_edge(self, within: float = 0.25) -> bool:
        """Whether the bracket is narrow: a pass and a failure within ``within`` of each other."""
        if self.best_pass is None or self.lowest_fail is None:
            return False
        return (self.lowest_fail - self.best_pass.rate) / self.best_pass.rate <= within

    def step_should_stop(self, partial: StepResult) -> bool:
        """Whether a run under way has already failed clearly (stop it, do not overload)."""
        return self.judge.verdict(partial, self.objectives, self.latency_objective_ms,
                                  self.strict_latency).clear

    def clearly_over(self, second: StepResult) -> bool:
        """Whether one second of a run is clearly overloaded (see ``clearly_over``)."""
        return self.judge.clearly_over(second, self.objectives, self.latency_objective_ms)

    def record(self, result: StepResult) -> Verdict:
        """Judge one run; the rate is decided once its runs agree (see ``_decide``)."""
        if result.contaminated and self.contaminated.get(result.rate, 0) < MAX_CONTAMINATED:
            # Not evidence about this rate: run it again (after recovery), count nothing.
            self.contaminated[result.rate] = self.contaminated.get(result.rate, 0) + 1
            verdict = Verdict(False, False, ("inherited the previous run's queue: run again",),
                              contaminated=True)
            self.history.append((result, verdict))
            self.rerun = result.rate
            return verdict
        self.rerun = None
        verdict = self.judge.verdict(result, self.objectives, self.latency_objective_ms,
                                     self.strict_latency)
        self.history.append((result, verdict))
        if self.pending != result.rate:  # a new rate, or the highest pass run again
            self._runs = list(self.decided.get(result.rate, []))
        self._runs.append(verdict.passed)
        passed = self._decide(self._runs)
        self.pending = result.rate if passed is None else None
        if passed is None:
            return verdict
        self.decided[result.rate] = list(self._runs)
        outcomes = {rate: self._decide(runs) for rate, runs in self.decided.items()}
        passes = [rate for rate, ok in outcomes.items() if ok]
        fails = [rate for rate, ok in outcomes.items() if ok is False]
        self.best_pass = next(r for r, v in reversed(self.history)
                              if r.rate == max(passes) and v.passed) if passes else None
        self.lowest_fail = min(fails) if fails else None
        return verdict

    def outcome(self, rate: float) -> bool | None:
        """Whether ``rate`` was decided to pass (True) or fail (False); None if undecided,
        which a rate decided once is again while re-runs disagree (the highest pass run
        again to confirm the edge, and failing)."""
        runs = self._runs if rate == self.pending else self.decided.get(rate)
        return None if runs is None else self._decide(runs)

    def _decide(self, runs: list[bool]) -> bool | None:
        """A first pass stands (until the edge is confirmed); else best of three decides."""
        if not self.confirm:
            return runs[-1]
        if runs.count(True) >= 2 or runs == [True]:
            return True
        if runs.count(False) >= 2:
            return False
        return None

    def spread(self) -> dict[str, Any]:
        """How sure the answer is: the bracket around the edge and what confirming changed."""
        low = self.best_pass.rate if self.best_pass else None
        high = self.lowest_fail
        overturned = sorted(rate for rate, runs in self.decided.items()
                            if not runs[0] and runs.count(True) >= 2)
        confirmed = sorted(rate for rate, runs in self.decided.items()
                           if runs.count(False) >= 2)
        # Verdicts out of order: a rate that failed (confirmed) below one that passed a run.
        # A failure overturned by two passes is a stall, not the edge; a band wider than
        # UNSTEADY_BAND says the target's own capacity moved during the search (a shared or
        # throttled host), and another search may answer anywhere in it.
        failed = [rate for rate, runs in self.decided.items() if self._decide(runs) is False]
        passed = [rate for rate, runs in self.decided.items() if True in runs]
        band = [min(failed), max(passed)] if failed and passed else None
        unsteady = band if band and band[1] > band[0] * (1.0 + UNSTEADY_BAND) else None
        return {
            "bracket": [low, high],
            "bracket_pct": (100.0 * (high - low) / low) if low and high else None,
            "pass_runs": self.decided.get(low, []).count(True) if low else 0,
            "runs_at_pass": len(self.decided.get(low, [])) if low else 0,
            "fail_runs": self.decided.get(high, []).count(False) if high else 0,
            "runs_at_fail": len(self.decided.get(high, [])) if high else 0,
            "confirmed_failures": confirmed,
            "overturned_failures": overturned,
            "contaminated_runs": sum(self.contaminated.values()),
            "runs": len(self.history),
            "unit": self.unit,
            "unsteady": unsteady,
            "flipped": sorted(rate for rate, runs in self.decided.items()
                              if True in runs and False in runs) if unsteady else [],
        }

    def recommendation(self, safety_factor: float = 0.5) -> dict[str, Any] | None:
        """The answer: max sustainable rate, its figures, its spread and the target it implies
        (the judge's wording: see ``StepJudge.recommendation``)."""
        return self.judge.recommendation(self, safety_factor)

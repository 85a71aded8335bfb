"""Finding the highest rate one instance sustains, and the scaling target that follows.

The search is a pure state machine (``CapacitySearch``): it proposes a rate, is told how the
step went (``StepResult``), and proposes the next, so its logic is tested by tables with a
simulated endpoint. ``run_capacity_search`` (in ``driver.capacity_run``) drives it against a
live session.

The procedure, after a short unloaded baseline that sets the default latency objective:
1. raise the rate geometrically (x ``growth``) while steps pass; if the very first step
   fails, lower it the same way (/ ``growth``) until one passes;
2. once a rate has passed and a higher one failed, bisect between the highest pass and the
   lowest failure until the gap is within ``tolerance`` of the passing rate;
3. a step that fails *clearly* (errors or latency far past the objective) ends the climb at
   once and is never exceeded again: the search does not overload further than it must.

A step passes while the error rate stays under ``max_error_rate``, client p99 under
``latency_objective_ms``, and the achieved rate within ``min_achieved`` of the offered rate.
AWS's load-testing guidance turns the answer into a policy:
``target = max_rps x safety_factor x 60`` invocations per instance per minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Objectives:
    max_error_rate: float = 0.05  # as the blog: no more than 5 % errors
    latency_objective_ms: float | None = None  # None: derived from the unloaded p99
    min_achieved: float = 0.95  # achieved rate within 5 % of the offered rate
    clear_failure_factor: float = 2.0  # this far past an objective, a step fails clearly


def default_latency_objective(unloaded_p99_ms: float) -> float:
    """Four times the unloaded p99, and at least 25 ms above it.

    Under capacity a model's latency barely moves with load (the blog: under 15 ms); past it
    queues form and latency climbs by orders of magnitude (over 300 ms), so a generous
    multiple of the unloaded figure separates the two regimes without reacting to noise.
    """
    return max(4.0 * unloaded_p99_ms, unloaded_p99_ms + 25.0)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step at ``rate`` produced, from the client (and the server where known)."""

    rate: float
    achieved_rps: float
    error_rate: float
    p99_ms: float | None
    p50_ms: float | None = None
    requests: int = 0
    server_model_latency_ms: float | None = None
    server_5xx: float | None = None
    stopped_early: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    clear: bool  # failed by far: do not go higher, and stop the step early
    reasons: tuple[str, ...]


CLEAR_FAILURE_NOTE = "FAIL! is a clear failure: the step was cut short and no higher rate was tried"


def verdict_label(passed: bool, clear: bool) -> str:
    """``pass``, ``FAIL`` or ``FAIL!`` (a clear failure), as the step tables show it."""
    return "pass" if passed else ("FAIL!" if clear else "FAIL")


def judge(result: StepResult, objectives: Objectives, latency_objective_ms: float) -> Verdict:
    reasons = []
    clear = False
    factor = objectives.clear_failure_factor
    if result.error_rate >= objectives.max_error_rate:
        reasons.append(f"errors {100 * result.error_rate:.1f}% ≥ "
                       f"{100 * objectives.max_error_rate:g}%")
        clear = clear or result.error_rate >= min(1.0, objectives.max_error_rate * factor)
    if result.p99_ms is None:
        reasons.append("no request completed")
        clear = True
    elif result.p99_ms >= latency_objective_ms:
        reasons.append(f"p99 {result.p99_ms:.0f} ms ≥ {latency_objective_ms:.0f} ms")
        clear = clear or result.p99_ms >= latency_objective_ms * factor
    if result.rate > 0 and result.achieved_rps < objectives.min_achieved * result.rate:
        reasons.append(f"achieved {result.achieved_rps:.0f} of {result.rate:.0f} req/s")
    return Verdict(not reasons, clear and bool(reasons), tuple(reasons))


@dataclass
class CapacitySearch:
    """Proposes rates, learns from results; ``done`` once the edge is narrow enough."""

    start_rps: float
    objectives: Objectives = field(default_factory=Objectives)
    growth: float = 2.0
    tolerance: float = 0.05  # stop when (fail - pass) / pass is within this
    max_rps: float = 100_000.0
    min_rps: float = 1.0  # stepping down from a failed start stops here
    max_steps: int = 20
    latency_objective_ms: float | None = None
    history: list[tuple[StepResult, Verdict]] = field(default_factory=list)
    best_pass: StepResult | None = None
    lowest_fail: float | None = None

    def __post_init__(self) -> None:
        if self.latency_objective_ms is None:
            self.latency_objective_ms = self.objectives.latency_objective_ms

    def set_baseline(self, unloaded_p99_ms: float) -> None:
        """Derive the latency objective from an unloaded run, unless one was given."""
        if self.latency_objective_ms is None:
            self.latency_objective_ms = default_latency_objective(unloaded_p99_ms)

    @property
    def done(self) -> bool:
        return self.next_rate() is None

    def next_rate(self) -> float | None:
        """The rate of the next step, or None when the search is over."""
        if len(self.history) >= self.max_steps:
            return None
        if self.lowest_fail is None:
            if self.best_pass is None:
                return self.start_rps if not self.history else None
            rate = self.best_pass.rate * self.growth
            return rate if rate <= self.max_rps else None
        low = self.best_pass.rate if self.best_pass else 0.0
        if low <= 0:  # nothing passed yet: the start was above capacity, step down
            rate = math.floor(self.lowest_fail / self.growth)
            return rate if rate >= self.min_rps else None
        if (self.lowest_fail - low) / low <= self.tolerance:
            return None
        return math.floor((low + self.lowest_fail) / 2)

    def step_should_stop(self, partial: StepResult) -> bool:
        """Whether a step under way has already failed clearly (stop it, do not overload)."""
        assert self.latency_objective_ms is not None
        return judge(partial, self.objectives, self.latency_objective_ms).clear

    def record(self, result: StepResult) -> Verdict:
        assert self.latency_objective_ms is not None, "set_baseline or an objective first"
        verdict = judge(result, self.objectives, self.latency_objective_ms)
        self.history.append((result, verdict))
        if verdict.passed:
            if self.best_pass is None or result.rate > self.best_pass.rate:
                self.best_pass = result
        elif self.lowest_fail is None or result.rate < self.lowest_fail:
            self.lowest_fail = result.rate
        return verdict

    def recommendation(self, safety_factor: float = 0.5) -> dict[str, Any] | None:
        """The answer: max sustainable rate, its figures, and the target it implies."""
        if self.best_pass is None:
            return None
        best = self.best_pass
        target = best.rate * safety_factor * 60
        return {
            "max_rps": best.rate,
            "p50_ms": best.p50_ms,
            "p99_ms": best.p99_ms,
            "error_rate": best.error_rate,
            "server_model_latency_ms": best.server_model_latency_ms,
            "first_failing_rps": self.lowest_fail,
            "latency_objective_ms": self.latency_objective_ms,
            "max_error_rate": self.objectives.max_error_rate,
            "safety_factor": safety_factor,
            "target": round(target),
            "formula": f"target = MAX_RPS x SAFETY_FACTOR x 60 = {best.rate:g} x "
                       f"{safety_factor:g} x 60 = {round(target)} invocations per instance "
                       "per minute",
        }


def scaling_block(recommendation: dict[str, Any], minimum: int = 1, maximum: int = 4) -> str:
    """A ``scaling:`` section ready to paste into a profile."""
    return (
        "scaling:\n"
        "  enabled: true\n"
        f"  min: {minimum}\n"
        f"  max: {maximum}\n"
        f"  target: {recommendation['target']}   # {recommendation['formula']}\n"
        "  scaleOutCooldown: 300s\n"
        "  scaleInCooldown: 300s\n"
    )

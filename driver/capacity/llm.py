"""The capacity search on a streaming LLM target: goodput under TTFT/TPOT SLOs, and the
``ConcurrentRequestsPerModel`` target that follows.

A step of a streaming search passes while the share of the requests that ended in its judged
window (ok or failed) that met both SLOs — **goodput**, TTFT ≤ x and TPOT ≤ y, counted by the
workers — stays at or above ``min_goodput``, and errors under ``max_error_rate``. The client
p99 of end-to-end latency is not an objective: an LLM's end-to-end latency is set by how many
tokens it writes, not by how loaded it is. The search itself (``driver.capacity``'s
``CapacitySearch``) is the same, in req/s (open model) or in requests kept in flight when the
profile's ``load.mode`` is ``concurrency``.

The recommendation is a target for ``SageMakerVariantConcurrentRequestsPerModelHighResolution``:
``target = MAX_CONCURRENCY x SAFETY_FACTOR``, where MAX_CONCURRENCY is the highest passing
concurrency of a concurrency search, or for a rate search the requests in flight observed at
the highest passing rate (the mean of ``Tick.in_flight`` over its judged seconds).

``StreamingJudge`` is these rules as the search's judge (``driver.capacity.search.StepJudge``),
handed to ``CapacitySearch`` by whoever builds it; the search itself never imports this module.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from driver.capacity.search import CapacitySearch, Objectives, StepResult, Verdict
from metrics.llm import LlmAggregate
from metrics.records import Tick

if TYPE_CHECKING:
    from driver.profile import Profile

# Without SLOs in the profile: a first token within 2 s and at least 10 tokens/s per stream
# (TPOT 100 ms, faster than anyone reads), as the sandbox's LLM demo profile asks.
DEFAULT_SLO_TTFT_S = 2.0
DEFAULT_SLO_TPOT_S = 0.1
DEFAULT_MIN_GOODPUT = 95.0  # percent
# First steps when --start is not given: LLM instances take a few requests/s, or tens in flight.
DEFAULT_START_RPS = 1.0
DEFAULT_START_CONCURRENCY = 4.0
RATE_QUANTUM = 0.1  # an LLM rate search narrows to a tenth of a request per second
CONCURRENCY = "in flight"


def is_concurrency(profile: Profile) -> bool:
    return profile.load.mode == "concurrency"


def slo_of(profile: Profile, ttft_ms: float | None, tpot_ms: float | None
           ) -> tuple[float, float, str]:
    """The TTFT and TPOT SLOs (ms) the search judges by, and where each came from."""
    llm = profile.llm
    assert llm is not None
    chosen, said = [], []
    for name, flag, given, default in (("TTFT", "--ttft-ms", ttft_ms, DEFAULT_SLO_TTFT_S),
                                       ("TPOT", "--tpot-ms", tpot_ms, DEFAULT_SLO_TPOT_S)):
        from_profile = llm.slo_ttft if name == "TTFT" else llm.slo_tpot
        if given is not None:
            value, source = given, flag
        elif from_profile is not None:
            value, source = from_profile * 1000, "the profile's llm.slo"
        else:
            value, source = default * 1000, "loadwatch's default, the profile has none"
        chosen.append(value)
        said.append(f"{name} ≤ {value:g} ms ({source})")
    return chosen[0], chosen[1], "; ".join(said)


def with_slo(profile: Profile, ttft_ms: float, tpot_ms: float) -> Profile:
    """The profile with these SLOs, so that the workers count goodput against them."""
    assert profile.llm is not None
    return dataclasses.replace(profile, llm=dataclasses.replace(
        profile.llm, slo_ttft=ttft_ms / 1000, slo_tpot=tpot_ms / 1000))


def describe_objectives(objectives: Objectives) -> str:
    """The objectives line of a streaming search."""
    assert objectives.min_goodput is not None
    achieved = ("" if not objectives.min_achieved else
                f", and at least {100 * objectives.min_achieved:g}% of the offered rate sent "
                "and ended (allowing for Poisson arrivals)")
    return (f"a step passes while goodput (requests with TTFT ≤ {objectives.slo_ttft_ms:g} ms "
            f"and TPOT ≤ {objectives.slo_tpot_ms:g} ms, of those that ended) stays ≥ "
            f"{100 * objectives.min_goodput:g}% and errors under "
            f"{100 * objectives.max_error_rate:g}%{achieved}; client p99 latency is not an "
            "objective (an LLM's end-to-end latency follows its output length)")


def measure(ticks: Iterable[Tick]) -> dict[str, Any]:
    """A window's streaming figures, as ``StepResult`` fields."""
    ticks = list(ticks)
    agg = LlmAggregate().extend(ticks)
    snap = agg.snapshot()
    agg.release()
    ttft, tpot = snap["ttft_ms"], snap["tpot_ms"]
    return {
        "ttft_p50_ms": ttft["p50"], "ttft_p99_ms": ttft["p99"],
        "tpot_p50_ms": tpot["p50"], "tpot_p99_ms": tpot["p99"],
        "output_tokens_per_s": snap["output_tokens_per_s"],
        "goodput_pct": snap["goodput_pct"],
        "ended": agg.completed,
        "in_flight_mean": sum(t.in_flight for t in ticks) / len(ticks) if ticks else None,
    }


def judge_streaming(result: StepResult, objectives: Objectives) -> Verdict:
    """Goodput and errors (and the achieved rate of a rate search: a concurrency search has
    ``min_achieved`` 0, a number in flight is not a rate); see the module."""
    assert objectives.min_goodput is not None
    reasons = []
    if result.error_rate >= objectives.max_error_rate:
        reasons.append(f"errors {100 * result.error_rate:.1f}% ≥ "
                       f"{100 * objectives.max_error_rate:g}%")
    if result.goodput_pct is None:
        reasons.append("no request ended")
    elif result.goodput_pct < 100 * objectives.min_goodput:
        reasons.append(f"goodput {result.goodput_pct:.1f}% < {100 * objectives.min_goodput:g}%"
                       + _missed(result, objectives))
    if objectives.min_achieved and short_of_rate(result, objectives.min_achieved):
        reasons.append(f"achieved {result.achieved_rps:.2f} of {result.rate:g} req/s")
    elif objectives.min_achieved and backlog(result, objectives.min_achieved):
        reasons.append(f"{result.ended / result.seconds:.2f} of {result.rate:g} req/s ended: "
                       "requests are queueing")
    clear = bool(reasons) and result.goodput_pct is not None and (
        result.overloaded_s >= objectives.clear_persist_s
        and clearly_over_streaming(result, objectives))
    return Verdict(not reasons, clear, tuple(reasons))


def short_of_rate(result: StepResult, min_achieved: float) -> bool:
    """Whether fewer requests were sent than the rate asks, beyond chance.

    An LLM profile's arrivals are Poisson and its rates a few per second, so a step's count
    varies by its square root: 18 due in 9 s are 14 to 22 one time in three. Short means
    below ``min_achieved`` of the due count *and* two standard deviations below it (one step
    in 40 by chance; a failing step is re-run to confirm it).
    """
    if result.rate <= 0:
        return False
    seconds = result.seconds or (result.requests / result.achieved_rps
                                 if result.achieved_rps else 0)
    return _short(result.achieved_rps * seconds, result.rate * seconds, min_achieved)


def backlog(result: StepResult, min_achieved: float) -> bool:
    """Whether fewer requests ended than the rate sends, beyond chance: the instance queues.

    Goodput over the requests that ended cannot see this by itself: in overload the ones that
    end first are the ones queued least. It holds once a step's first (not judged) seconds
    last longer than one answer, so that the requests judged were sent during the step
    (``settle_for``)."""
    if result.rate <= 0 or not result.seconds:
        return False
    return _short(result.ended, result.rate * result.seconds, min_achieved)


def _short(count: float, due: float, min_achieved: float) -> bool:
    return count < min_achieved * due and count < due - 2 * math.sqrt(due)


def settle_for(unloaded_p99_ms: float | None, settle_s: float) -> float:
    """A rate step's first seconds, not judged: at least twice the unloaded p99 of a whole
    answer (under load tokens come about half as fast), so that the requests that end in the
    judged seconds were sent in the step, not before it at the previous step's lower rate."""
    if unloaded_p99_ms is None:
        return settle_s
    return max(settle_s, float(math.ceil(2 * unloaded_p99_ms / 1000)))


def _missed(result: StepResult, objectives: Objectives) -> str:
    """Which SLO the p99s missed, e.g. `` (TTFT p99 2400 ms)``."""
    over = [f"{name} p99 {value:.0f} ms" for name, value, slo in (
        ("TTFT", result.ttft_p99_ms, objectives.slo_ttft_ms),
        ("TPOT", result.tpot_p99_ms, objectives.slo_tpot_ms))
        if value is not None and slo is not None and value > slo]
    return f" ({', '.join(over)})" if over else ""


def clearly_over_streaming(result: StepResult, objectives: Objectives) -> bool:
    """Twice past: twice the error limit, or the median TTFT or TPOT twice its SLO (most
    requests miss it by far). A second in which no stream ended says nothing: streams last."""
    factor = objectives.clear_failure_factor
    if result.error_rate >= min(1.0, objectives.max_error_rate * factor):
        return True
    return any(value is not None and slo is not None and value >= slo * factor
               for value, slo in ((result.ttft_p50_ms, objectives.slo_ttft_ms),
                                  (result.tpot_p50_ms, objectives.slo_tpot_ms)))


def recommendation(search: CapacitySearch, safety_factor: float) -> dict[str, Any] | None:
    """The answer of a streaming search and its ConcurrentRequestsPerModel target."""
    best = search.best_pass
    if best is None:
        return None
    concurrency = search.unit == CONCURRENCY
    if concurrency:
        observed, name = best.rate, "MAX_CONCURRENCY"
        basis = "the highest concurrency that passed"
    else:
        observed = best.in_flight_mean or 0.0
        name = "CONCURRENCY_AT_MAX_RPS"
        basis = (f"the mean requests in flight at {best.rate:g} req/s (the client's in-flight "
                 "count at the end of each judged second)")
    target = max(1.0, round(observed * safety_factor, 1))
    objectives = search.objectives
    return {
        "unit": search.unit,
        "max_rps": None if concurrency else best.rate,
        "max_concurrency": observed,
        "concurrency_basis": basis,
        "ttft_p50_ms": best.ttft_p50_ms, "ttft_p99_ms": best.ttft_p99_ms,
        "tpot_p50_ms": best.tpot_p50_ms, "tpot_p99_ms": best.tpot_p99_ms,
        "output_tokens_per_s": best.output_tokens_per_s,
        "goodput_pct": best.goodput_pct,
        "achieved_rps": best.achieved_rps,
        "error_rate": best.error_rate,
        "first_failing": search.lowest_fail,
        "slo_ttft_ms": objectives.slo_ttft_ms, "slo_tpot_ms": objectives.slo_tpot_ms,
        "min_goodput_pct": 100 * (objectives.min_goodput or 0),
        "max_error_rate": objectives.max_error_rate,
        "safety_factor": safety_factor,
        "metric": "concurrency",
        "target": target,
        "formula": f"target = {name} x SAFETY_FACTOR = {observed:.3g} x {safety_factor:g} = "
                   f"{target:g} requests in flight per model copy "
                   "(SageMakerVariantConcurrentRequestsPerModelHighResolution)",
        "spread": search.spread(),
    }


class StreamingJudge:
    """The search's judge for a streaming LLM target: goodput (``judge_streaming``), no latency
    objective, and a ``ConcurrentRequestsPerModel`` answer (``recommendation``)."""

    streaming = True

    def verdict(self, result: StepResult, objectives: Objectives,
                latency_objective_ms: float | None, strict_latency: bool) -> Verdict:
        return judge_streaming(result, objectives)

    def clearly_over(self, result: StepResult, objectives: Objectives,
                     latency_objective_ms: float | None) -> bool:
        return clearly_over_streaming(result, objectives)

    def recommendation(self, search: CapacitySearch,
                       safety_factor: float) -> dict[str, Any] | None:
        return recommendation(search, safety_factor)


def answer_line(rec: dict[str, Any]) -> str:
    """``one instance sustains 40 in flight (goodput 97.5%, ...)``."""
    found = (f"{rec['max_concurrency']:g} in flight" if rec["unit"] == CONCURRENCY
             else f"{rec['max_rps']:g} req/s ({rec['max_concurrency']:.1f} in flight)")
    return (f"{found}: goodput {_pct(rec['goodput_pct'])}, TTFT p50 {_ms(rec['ttft_p50_ms'])} "
            f"/ p99 {_ms(rec['ttft_p99_ms'])} ms, TPOT p50 {_ms(rec['tpot_p50_ms'])} / p99 "
            f"{_ms(rec['tpot_p99_ms'])} ms, {rec['output_tokens_per_s']:.0f} output tokens/s")


def step_figures(step: dict[str, Any] | StepResult) -> str:
    """A streaming step's figures for its verdict line."""
    get = step.get if isinstance(step, dict) else (lambda k: getattr(step, k))
    return (f"goodput {_pct(get('goodput_pct'))}, TTFT p50/p99 {_ms(get('ttft_p50_ms'))}/"
            f"{_ms(get('ttft_p99_ms'))} ms, TPOT p50/p99 {_ms(get('tpot_p50_ms'))}/"
            f"{_ms(get('tpot_p99_ms'))} ms, {get('output_tokens_per_s') or 0:.0f} tokens/s, "
            f"errors {100 * get('error_rate'):.1f}%")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"

"""The capacity search on a streaming LLM target, by tables: goodput judges a step, the search
runs in req/s or in flight, and the answer is a ConcurrentRequestsPerModel target."""

from __future__ import annotations

import dataclasses
import types

import pytest

from driver.capacity import describe_spread, judge_for, objectives_from, scaling_block
from driver.capacity import llm as capacity_llm
from driver.capacity.search import CapacitySearch, Objectives, PlainJudge, StepResult
from driver.profile import parse_profile
from metrics import hdr
from metrics.records import Tick
from tests.driver.capacity.test_search import run

PHASES = "config:\n  phases: [{duration: 10, arrivalRate: 1}]\n"
SLO = Objectives(min_goodput=0.95, slo_ttft_ms=500, slo_tpot_ms=50)
IN_FLIGHT = dataclasses.replace(SLO, min_achieved=0.0)  # a concurrency search
GOODPUT = capacity_llm.StreamingJudge()  # what goodput objectives are judged by


def step(rate: float, goodput: float | None, *, errors: float = 0.0, achieved: float | None = None,
         ttft: float = 300, tpot: float = 30, overloaded_s: int = 0, seconds: int = 20,
         ended: int | None = None) -> StepResult:
    """A streaming step: its e2e p99 is long (seconds of tokens) and judges nothing."""
    return StepResult(rate, rate if achieved is None else achieved, errors, 9000.0, 5000.0,
                      ttft_p50_ms=ttft, ttft_p99_ms=ttft * 1.5, tpot_p50_ms=tpot,
                      tpot_p99_ms=tpot * 1.5, output_tokens_per_s=100.0, goodput_pct=goodput,
                      ended=round(rate * seconds) if ended is None else ended,
                      in_flight_mean=rate * 4, overloaded_s=overloaded_s,
                      seconds=seconds)


@pytest.mark.parametrize(
    ("objectives", "result", "passed", "clear", "why"),
    [
        (SLO, step(3, 100.0), True, False, ""),  # a 9 s p99 does not fail a streaming step
        (SLO, step(3, 95.0), True, False, ""),  # at the threshold
        (SLO, step(3, 94.9), False, False, "goodput 94.9% < 95%"),
        (SLO, step(3, 60.0, ttft=900), False, False, "(TTFT p99 1350 ms)"),
        (SLO, step(3, 10.0, ttft=1000, overloaded_s=3), False, True, "goodput 10.0%"),
        (SLO, step(3, 10.0, ttft=1000, overloaded_s=2), False, False, "goodput"),  # brief
        (SLO, step(3, 10.0, tpot=100, overloaded_s=5), False, True, "TPOT p99 150 ms"),
        (SLO, step(3, 80.0, ttft=600, overloaded_s=5), False, False, "goodput"),  # not 2x past
        (SLO, step(3, 100.0, errors=0.06), False, False, "errors 6.0% ≥ 5%"),
        (SLO, step(3, 100.0, errors=0.5, overloaded_s=3), False, True, "errors"),
        (SLO, step(3, None), False, False, "no request ended"),
        # Poisson arrivals: 50 sent of 60 due in 20 s is chance (2 sd is 15.5), 40 is not
        (SLO, step(3, 100.0, achieved=2.5), True, False, ""),
        (SLO, step(3, 100.0, achieved=2.0), False, False, "achieved 2.00 of 3 req/s"),
        (SLO, step(300, 100.0, achieved=280), False, False, "achieved 280.00 of 300"),
        # In overload the requests that end first queued least: goodput alone is fooled
        (SLO, step(8, 97.0, ended=76), False, False, "3.80 of 8 req/s ended: requests are queue"),
        (SLO, step(8, 100.0, ended=140), True, False, ""),  # 160 due: chance (2 sd is 25)
        (SLO, step(8, 100.0, ended=130), False, False, "6.50 of 8 req/s ended"),
        (IN_FLIGHT, step(30, 100.0, achieved=7.0, ended=140), True, False, ""),  # N, not req/s
        (dataclasses.replace(SLO, min_goodput=0.5), step(3, 60.0), True, False, ""),
    ],
)
def test_judging_a_streaming_step(objectives, result, passed, clear, why):
    search = CapacitySearch(start_rps=1, objectives=objectives, judge=GOODPUT)  # no baseline needed
    verdict = search.record(result)
    assert (verdict.passed, verdict.clear) == (passed, clear)
    assert why in "; ".join(verdict.reasons)
    assert search.step_should_stop(result) == clear


@pytest.mark.parametrize(
    ("second", "over"),
    [
        (step(3, None), False),  # no stream ended this second: streams last seconds
        (step(3, 0.0, ttft=999), False),
        (step(3, 0.0, ttft=1000), True),  # the median twice the TTFT SLO
        (step(3, 0.0, tpot=100), True),
        (step(3, 100.0, errors=0.10), True),
    ],
)
def test_a_streaming_second_is_clearly_over_only_twice_past_an_slo(second, over):
    assert CapacitySearch(start_rps=1, objectives=SLO, judge=GOODPUT).clearly_over(second) == over


def llm_instance(max_concurrency: int):
    """An instance whose goodput holds up to ``max_concurrency`` in flight, then collapses as
    queued requests wait past the TTFT SLO; it serves 0.25 req/s per stream."""

    def respond(n: float) -> StepResult:
        goodput = 100.0 if n <= max_concurrency else max(0.0, 100 - 8 * (n - max_concurrency))
        ttft = 300 if n <= max_concurrency else 300 + 150 * (n - max_concurrency)
        result = step(n, goodput, achieved=min(n, max_concurrency) / 4, ttft=ttft)
        return dataclasses.replace(result, in_flight_mean=n)

    return respond


@pytest.mark.parametrize(("capacity", "start"), [(37, 4), (7, 4), (1, 4), (120, 8), (5, 16)])
def test_a_concurrency_search_finds_the_edge_to_one_request(capacity, start):
    search = CapacitySearch(start_rps=start, objectives=IN_FLIGHT, judge=GOODPUT,
                            unit="in flight", tolerance=0.01)
    rates = run(search, llm_instance(capacity))
    assert all(rate == int(rate) for rate in rates)  # whole requests in flight
    rec = search.recommendation(0.5)
    assert rec["max_concurrency"] == capacity and rec["first_failing"] == capacity + 1
    assert rec["unit"] == "in flight" and rec["max_rps"] is None
    assert rec["target"] == max(1.0, capacity * 0.5)
    assert f"target = MAX_CONCURRENCY x SAFETY_FACTOR = {capacity:g} x 0.5 = " \
           f"{rec['target']:g} requests in flight per model copy" in rec["formula"]
    assert f"and {capacity + 1} in flight (failed 2 of 2 runs)" in describe_spread(rec["spread"])


def test_a_rate_search_on_a_stream_narrows_to_tenths_and_answers_in_flight():
    """1 req/s steps are too coarse for an instance that takes 2.37 req/s."""
    def respond(rate: float) -> StepResult:
        result = step(rate, 100.0 if rate <= 2.37 else 40.0)
        return dataclasses.replace(result, in_flight_mean=rate * 5.2)  # 5.2 s per stream

    search = CapacitySearch(start_rps=1, objectives=SLO, judge=GOODPUT,
                            quantum=capacity_llm.RATE_QUANTUM, min_rps=0.1, tolerance=0.01)
    rates = run(search, respond)
    assert all(round(r * 10) == pytest.approx(r * 10) for r in rates)
    rec = search.recommendation(0.5)
    assert (rec["max_rps"], rec["first_failing"]) == (2.3, 2.4)
    assert rec["max_concurrency"] == pytest.approx(11.96)
    assert rec["target"] == 6.0  # 11.96 x 0.5, to a tenth
    assert "target = CONCURRENCY_AT_MAX_RPS x SAFETY_FACTOR = 12 x 0.5 = 6 " in rec["formula"]
    assert "mean requests in flight at 2.3 req/s" in rec["concurrency_basis"]


def test_integer_rates_stop_at_a_gap_of_one():
    """Below 20 req/s a 5 % tolerance is less than one request: the search used to re-run the
    passing rate until its step budget ran out."""
    search = CapacitySearch(start_rps=4)
    search.set_baseline(10)
    rates = run(search, lambda r: StepResult(r, r, 0.0, 12 if r <= 10.5 else 900))
    assert rates == [4, 8, 16, 16, 12, 12, 10, 11, 11, 10]  # the last: the answer confirmed
    assert search.recommendation()["max_rps"] == 10


def test_the_scaling_block_for_a_stream_is_a_valid_concurrency_policy():
    search = CapacitySearch(start_rps=4, objectives=IN_FLIGHT, judge=GOODPUT, unit="in flight")
    run(search, llm_instance(37))
    block = scaling_block(search.recommendation(0.5), minimum=1, maximum=3)
    assert "  metric: concurrency\n" in block and "  target: 18.5   # target = " in block
    profile = parse_profile(PHASES + "sagemaker:\n  stream: true\n" + block)
    assert profile.scaling is not None
    assert (profile.scaling.metric, profile.scaling.target, profile.scaling.max) == \
        ("concurrency", 18.5, 3)


def test_slos_come_from_the_command_line_then_the_profile_then_the_defaults():
    with_slo = parse_profile(PHASES + "sagemaker:\n  stream: true\nllm:\n  slo: {ttft: 1s}\n")
    ttft, tpot, said = capacity_llm.slo_of(with_slo, None, None)
    assert (ttft, tpot) == (1000, 100)
    assert said == ("TTFT ≤ 1000 ms (the profile's llm.slo); TPOT ≤ 100 ms (loadwatch's "
                    "default, the profile has none)")
    ttft, tpot, said = capacity_llm.slo_of(with_slo, 250, 40)
    assert (ttft, tpot) == (250, 40) and "--ttft-ms" in said and "--tpot-ms" in said
    counted = capacity_llm.with_slo(with_slo, 250, 40).llm
    assert (counted.slo_ttft, counted.slo_tpot) == (0.25, 0.04)  # what the workers count by
    objectives = objectives_from(5, None, 95, 250, 40, concurrency=True)
    assert objectives.streaming and objectives.min_achieved == 0
    assert not objectives_from(5, None).streaming
    assert objectives_from(5, None, 95, 250, 40).min_achieved == 0.95
    line = capacity_llm.describe_objectives(objectives)
    assert "goodput (requests with TTFT ≤ 250 ms and TPOT ≤ 40 ms" in line
    assert "client p99 latency is not an objective" in line and "offered rate" not in line


def _tick(second: int, ttfts_ms: list[float], goodput: int, failed: int = 0,
          in_flight: int = 8) -> Tick:
    ttft, tpot = hdr.new_histogram(), hdr.new_histogram()
    for value in ttfts_ms:
        ttft.record_value(int(value * 1000))
        tpot.record_value(30_000)
    return Tick(second, 0.0, float(second), "p", 0, 4.0, completed=len(ttfts_ms) + failed,
                in_flight=in_flight, ttft=hdr.encode(ttft), tpot=hdr.encode(tpot),
                output_tokens=64 * len(ttfts_ms), goodput=goodput)


def test_rate_steps_settle_for_longer_than_one_answer():
    assert capacity_llm.settle_for(5200, 3) == 11  # 10.4 s: an answer sent before is done
    assert capacity_llm.settle_for(1400, 3) == 3
    assert capacity_llm.settle_for(None, 3) == 3


def test_a_window_is_measured_from_its_ticks():
    ticks = [_tick(0, [100, 200], 2), _tick(1, [300, 2500], 1, failed=1, in_flight=10)]
    figures = capacity_llm.measure(ticks)
    assert figures["goodput_pct"] == pytest.approx(60.0)  # 3 of the 5 that ended, failed too
    assert figures["ended"] == 5 and figures["in_flight_mean"] == 9
    assert figures["output_tokens_per_s"] == 128
    assert figures["ttft_p50_ms"] == pytest.approx(200, rel=0.01)
    assert figures["ttft_p99_ms"] == pytest.approx(2500, rel=0.01)
    assert figures["tpot_p50_ms"] == pytest.approx(30, rel=0.01)
    StepResult(1, 1, 0.0, None, **figures)  # they are StepResult's fields


def test_a_streaming_answer_reads_as_one_line():
    search = CapacitySearch(start_rps=4, objectives=IN_FLIGHT, judge=GOODPUT, unit="in flight")
    run(search, llm_instance(7))
    line = capacity_llm.answer_line(search.recommendation(0.5))
    assert line.startswith("7 in flight: goodput 100.0%, TTFT p50 300 / p99 450 ms, TPOT p50 "
                           "30 / p99 45 ms, 100 output tokens/s")
    figures = capacity_llm.step_figures(types.SimpleNamespace(**dataclasses.asdict(step(3, 99))))
    assert figures.startswith("goodput 99.0%, TTFT p50/p99 300/450 ms")


def test_a_concurrency_search_on_a_plain_target_recommends_invocations_from_its_throughput():
    """Not a stream: the p99 objective judges, and the invocations target uses what N sent."""
    search = CapacitySearch(start_rps=4, unit="in flight",
                            objectives=objectives_from(5, 100, concurrency=True))
    run(search, lambda n: StepResult(n, 40 * min(n, 10), 0.0, 20 if n <= 10 else 400))
    rec = search.recommendation(0.5)
    assert rec["max_rps"] == 400 and rec["target"] == 12000  # 10 in flight sent 400 req/s
    assert "= 400 x 0.5 x 60 = 12000 invocations" in rec["formula"]
    assert "metric" not in rec and "metric:" not in scaling_block(rec)


def test_goodput_objectives_are_judged_only_by_the_streaming_judge():
    """The caller hands the search its judge: the objectives say which one (``judge_for``)."""
    assert isinstance(judge_for(SLO), capacity_llm.StreamingJudge)
    assert isinstance(judge_for(objectives_from(5, None)), PlainJudge)
    assert isinstance(CapacitySearch(start_rps=1).judge, PlainJudge)  # the default
    with pytest.raises(ValueError, match="need the streaming judge"):
        CapacitySearch(start_rps=1, objectives=SLO)  # would judge a stream on its p99
    with pytest.raises(ValueError, match="need the streaming judge"):
        CapacitySearch(start_rps=1, judge=GOODPUT)  # no goodput objective to judge by

"""The capacity search by tables, against a simulated endpoint: no sleeps, no servers."""

from __future__ import annotations

import pytest

from driver.capacity import (
    CapacitySearch,
    Objectives,
    StepResult,
    default_latency_objective,
    judge,
    scaling_block,
)


def endpoint(capacity: float, unloaded_ms: float = 10.0):
    """An instance that holds its latency up to ``capacity`` and degrades past it."""

    def respond(rate: float) -> StepResult:
        if rate <= capacity:
            return StepResult(rate, rate, 0.0, unloaded_ms * 1.3, unloaded_ms, int(rate * 20))
        overload = rate / capacity - 1
        p99 = unloaded_ms * 1.3 + 2000 * overload  # queues: latency climbs fast
        errors = min(0.9, max(0.0, 3 * overload - 0.05))
        achieved = capacity + (rate - capacity) * 0.3
        return StepResult(rate, achieved, errors, p99, p99 / 2, int(rate * 20))

    return respond


def run(search: CapacitySearch, respond) -> list[float]:
    rates = []
    while (rate := search.next_rate()) is not None:
        rates.append(rate)
        search.record(respond(rate))
    return rates


@pytest.mark.parametrize("capacity", [50, 420, 425, 1000, 3700])
@pytest.mark.parametrize("start", [10, 50])
def test_the_search_lands_within_ten_percent_of_capacity(capacity, start):
    search = CapacitySearch(start_rps=start)
    search.set_baseline(unloaded_p99_ms=13)
    rates = run(search, endpoint(capacity))
    found = search.recommendation()["max_rps"]
    assert found == pytest.approx(capacity, rel=0.10)
    assert len(rates) <= 14


def test_it_never_goes_above_a_failed_rate():
    search = CapacitySearch(start_rps=50)
    search.set_baseline(13)
    rates = run(search, endpoint(420))
    first_fail = next(r for r in rates if r > 420)
    assert max(rates) == first_fail


def test_the_recommendation_shows_the_formula():
    search = CapacitySearch(start_rps=100, tolerance=0.01)
    search.set_baseline(13)
    run(search, endpoint(400))
    rec = search.recommendation(safety_factor=0.5)
    assert rec["target"] == round(rec["max_rps"] * 0.5 * 60)
    assert f"{rec['max_rps']:g} x 0.5 x 60 = {rec['target']}" in rec["formula"]
    block = scaling_block(rec)
    assert f"target: {rec['target']}" in block and block.startswith("scaling:\n")


def test_a_start_above_capacity_steps_down_then_bisects():
    search = CapacitySearch(start_rps=500)
    search.set_baseline(13)
    rates = run(search, endpoint(100))
    assert rates[:4] == [500, 250, 125, 62]  # down by the growth factor until a pass
    assert max(rates) == 500 and all(r < 125 for r in rates[4:])  # then only below the fail
    assert search.recommendation()["max_rps"] == pytest.approx(100, rel=0.10)


def test_an_endpoint_that_fails_every_step_ends_without_a_result():
    search = CapacitySearch(start_rps=50)
    search.set_baseline(13)
    assert run(search, endpoint(0.5)) == [50, 25, 12, 6, 3, 1]
    assert search.recommendation() is None


@pytest.mark.parametrize(
    ("result", "passed", "clear"),
    [
        (StepResult(100, 100, 0.0, 20), True, False),
        (StepResult(100, 100, 0.06, 20), False, False),  # errors over 5 %
        (StepResult(100, 100, 0.5, 20), False, True),  # far over: clear
        (StepResult(100, 100, 0.0, 60), False, False),  # p99 over the 52 ms objective
        (StepResult(100, 100, 0.0, 500), False, True),
        (StepResult(100, 90, 0.0, 20), False, False),  # achieved only 90 %
        (StepResult(100, 0, 0.0, None), False, True),  # nothing came back
    ],
)
def test_judging_a_step(result, passed, clear):
    verdict = judge(result, Objectives(), default_latency_objective(13))
    assert (verdict.passed, verdict.clear) == (passed, clear)
    assert bool(verdict.reasons) != passed


def test_the_latency_objective_follows_the_unloaded_p99_unless_given():
    assert default_latency_objective(13) == 52
    assert default_latency_objective(2) == 27
    search = CapacitySearch(start_rps=10, objectives=Objectives(latency_objective_ms=200))
    search.set_baseline(13)
    assert search.latency_objective_ms == 200


def test_a_clear_failure_can_be_seen_before_the_step_ends():
    search = CapacitySearch(start_rps=10)
    search.set_baseline(10)
    assert search.step_should_stop(StepResult(800, 500, 0.3, 900))
    assert not search.step_should_stop(StepResult(300, 300, 0.0, 14))

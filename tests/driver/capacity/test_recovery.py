"""The recovery gate between runs, contaminated runs, careful growth and windowed verdicts:
by tables, and against ``bench/capacity_sim.py``'s simulated server whose queue survives a
pause (no real server: the search and the gate are the live ones, the endpoint simulated)."""

from __future__ import annotations

import pytest

from bench.capacity_sim import SURVIVING_QUEUE, SimEndpoint, one_search, repeat
from driver.capacity.recovery import (
    RecoveryGate,
    RecoveryRule,
    contaminated,
    needs_recovery,
    probe_recovered,
)
from driver.capacity.run import HoldJudge, StepPlan
from driver.capacity.search import CapacitySearch, Objectives, StepResult, Verdict, judge

CAPACITY = SURVIVING_QUEUE["capacity"]
THRASH = {"thrash_at": SURVIVING_QUEUE["thrash_at"]}


def test_the_simulated_server_keeps_serving_requests_whose_clients_gave_up():
    """Past capacity its queue outlives the run, a 5 s rest and the clients' timeouts: a run
    well under capacity that starts on it measures that queue, not its own rate."""
    search = CapacitySearch(start_rps=50)
    search.set_baseline(30, 8)
    plan = StepPlan.for_period(10, 50)
    sim = SimEndpoint(capacity=CAPACITY, seed=1, timeout_s=2.0, **THRASH)
    sim.hold(search, 2 * CAPACITY, plan, 8, judge_early=False)  # twice past, 8 s
    queued = sim.backlog()
    sim.rest(5)
    assert queued > 500 and sim.backlog() > 300  # still serving after the rest
    inherited = sim.hold(search, CAPACITY / 2, plan, 10, judge_early=False)
    assert inherited.error_rate > 0.05  # clients time out behind the old queue
    fresh = SimEndpoint(capacity=CAPACITY, seed=1, timeout_s=2.0, **THRASH)
    clean = fresh.hold(search, CAPACITY / 2, plan, 10, judge_early=False)
    assert clean.error_rate == 0 and clean.p99_ms < 100


def test_the_gate_turns_a_falling_answer_into_a_stable_one():
    """Issue 22's search, simulated: without the gate (issue 11's search, a blind 5 s rest)
    every search answers about half the capacity; with the gate alone they answer near it."""
    falling = repeat(4, CAPACITY, seed=1, variant="issue 11", **THRASH)
    gated = repeat(4, CAPACITY, seed=1, variant="+ recovery gate", **THRASH)
    assert falling["median_over_capacity"] < 0.6
    assert gated["median_over_capacity"] > 0.85 and gated["max_over_min"] <= 1.10
    assert gated["recovery_wait_s_median"] > 0 and gated["unrecovered"] == 0


def test_the_default_search_is_stable_on_the_server_with_a_surviving_queue():
    now = repeat(4, CAPACITY, seed=11, variant="now", **THRASH)
    assert now["median_over_capacity"] > 0.85 and now["max_over_min"] <= 1.10
    assert now["unrecovered"] == 0


def test_a_target_that_never_recovers_ends_the_search_with_the_flagged_answer():
    """A server that wedges when offered more than 220 req/s (a leak, a stuck worker) and
    serves at a fiftieth of its capacity from then on: the first gate gives up after its
    bound, and the search ends with the highest rate passed so far, flagged."""
    trace: list[str] = []
    found = one_search(CAPACITY, 1, "now", trace=trace, wedges_above=220)
    assert found["unrecovered"] and found["answer"] == 200  # 50, 100, 200 passed, 250 failed
    assert found["waits_s"] == [pytest.approx(RecoveryRule().max_wait_s, abs=8)]
    assert trace[-1].split()[2:4] == ["250", "FAIL"]


def test_the_gate_drains_probes_pauses_and_gives_up_at_its_bound():
    rule = RecoveryRule(probe_s=4, pause_s=3, max_wait_s=20)
    gate = RecoveryGate(rule, began=100.0, unloaded_p50_ms=4.0, objective_ms=60.0,
                        max_error_rate=0.05)
    assert gate.next_action(100.0) == ("drain", 120.0)
    gate.drained(102.0)
    assert gate.next_action(102.0) == ("probe", 4)
    slow = StepResult(25, 25, 0.0, 90.0, 30.0, in_flight_end=3)
    assert not gate.probed(slow, 106.0)
    assert gate.probes[-1] == "p50 30.0 ms, p99 90.0 ms (p50 over 13.0 ms, p99 over 60 ms, " \
                              "3 still in flight)"
    assert gate.next_action(106.0) == ("pause", 3)
    gate.paused()
    assert gate.next_action(109.0) == ("probe", 4)
    assert not gate.probed(slow, 114.0)
    assert gate.next_action(114.0) == ("gave_up", 14.0)  # 114 + 3 + 4 > 120
    back = RecoveryGate(rule, 0.0, 4.0, 60.0, 0.05)
    back.drained(1.0)
    assert back.probed(StepResult(25, 25, 0.0, 20.0, 5.0, in_flight_end=0), 5.0)
    assert back.next_action(5.0) == ("recovered", 5.0)


@pytest.mark.parametrize(("probe", "ok"), [
    (StepResult(25, 25, 0.0, 20.0, 5.0, in_flight_end=0), True),
    (StepResult(25, 25, 0.0, 20.0, 13.0, in_flight_end=0), True),  # 2 x 4 + 5 ms
    (StepResult(25, 25, 0.0, 20.0, 13.5, in_flight_end=0), False),
    (StepResult(25, 25, 0.0, 60.0, 5.0, in_flight_end=0), False),  # p99 at the objective
    (StepResult(25, 25, 0.06, 20.0, 5.0, in_flight_end=0), False),  # errors
    (StepResult(25, 25, 0.0, 20.0, 5.0, in_flight_end=1), True),  # 25 x 60 ms: 1.5 in flight
    (StepResult(25, 25, 0.0, 20.0, 5.0, in_flight_end=2), False),
    (StepResult(25, 25, 0.0, None, None, in_flight_end=25), False),  # nothing came back
])
def test_recovered_means_latency_back_near_the_unloaded_baseline(probe, ok):
    assert probe_recovered(probe, RecoveryRule(), 4.0, 60.0, 0.05)[0] is ok


def test_which_runs_leave_the_target_to_recover():
    search = CapacitySearch(start_rps=50)
    search.set_baseline(13, 4)  # objective 63 ms
    ok, failed = Verdict(True, False, ()), Verdict(False, False, ("p99",))
    assert not needs_recovery(StepResult(200, 200, 0.0, 20, in_flight_end=5), ok, search)
    assert needs_recovery(StepResult(200, 200, 0.0, 20, in_flight_end=5), failed, search)
    assert needs_recovery(StepResult(200, 200, 0.0, 20, stopped_early=True), ok, search)
    # a pass that ended with more in flight than 63 ms of its rate: a queue left behind
    assert needs_recovery(StepResult(200, 200, 0.0, 20, in_flight_end=13), ok, search)


def test_a_run_that_inherited_a_queue_is_set_aside_and_run_again():
    """Slow first seconds, healthy last ones, the backlog falling: contaminated, so the search
    runs the rate again and counts only that run; a run slow to its end is a failure."""
    search = CapacitySearch(start_rps=100)
    search.set_baseline(13, 4)
    inherited = [900.0, 400.0, 80.0] + [6.0] * 17
    overloaded = [900.0, 400.0] + [300.0] * 18
    run = StepResult(100, 100, 0.0, 900.0, backlog_growth=-0.05, seconds=20)
    assert contaminated(inherited, run, 63, 0.01)
    assert not contaminated(overloaded, run, 63, 0.01)
    assert not contaminated(inherited, StepResult(100, 100, 0.0, 900.0, backlog_growth=0.05),
                            63, 0.01)
    verdict = search.record(StepResult(100, 100, 0.0, 900.0, contaminated=True))
    assert verdict.contaminated and not verdict.passed
    assert search.next_rate() == 100 and search.run_number(100) == 1 and not search.decided
    search.record(StepResult(100, 100, 0.0, 14.0))
    assert search.decided == {100: [True]} and search.spread()["contaminated_runs"] == 1


def test_the_hold_judge_marks_a_run_that_starts_on_an_old_queue():
    search = CapacitySearch(start_rps=100)
    search.set_baseline(13, 4)
    p50 = {s: (900.0 if s < 5 else 6.0) for s in range(0, 23)}
    flight = {s: (max(2, 80 - 20 * (s - 3))) for s in range(0, 23)}

    def measure(first, last, stopped_early=False, overloaded_s=0):
        worst = max(p50[s] for s in range(first, last + 1))
        return StepResult(100, 100, 0.0, worst * 1.2, p50[first], seconds=last - first + 1)

    hold = HoldJudge(search, 100, 3, 22, measure, lambda s: flight[max(s, 0)], 0)
    for second in range(0, 23):
        assert hold.second_done(second) is None
    assert hold.result().contaminated


def test_the_climb_grows_carefully_once_latency_bends():
    search = CapacitySearch(start_rps=50)
    search.set_baseline(13, 4)  # objective 63 ms; bent: p50 from 7 ms, p99 from 31.5 ms
    search.record(StepResult(50, 50, 0.0, 14.0, 4.5))
    assert search.next_rate() == 100
    search.record(StepResult(100, 100, 0.0, 20.0, 5.0))
    assert search.next_rate() == 200
    search.record(StepResult(200, 200, 0.0, 25.0, 7.5))  # p50 bends: x1.25, not x2
    assert search.next_rate() == 250
    search.record(StepResult(250, 250, 0.0, 40.0, 6.0))  # p99 past half the objective
    assert search.next_rate() == 312
    search.careful_growth = 0
    assert search.next_rate() == 500


def test_a_run_far_past_capacity_ends_in_its_settling_seconds():
    """Requests pile up past twice the objective's worth of the rate: clearly overloaded from
    the first seconds, so the run ends before its judged seconds begin."""
    search = CapacitySearch(start_rps=50)
    search.set_baseline(13, 4)  # objective 63 ms: 400 req/s x 126 ms = 50 in flight

    def measure(first, last, stopped_early=False, overloaded_s=0):
        return StepResult(400, 400, 0.0, 30.0, 10.0, stopped_early=stopped_early,
                          overloaded_s=overloaded_s)

    hold = HoldJudge(search, 400, 3, 22, measure, lambda s: 60 * (s + 1), 0)
    stops = [hold.second_done(s) for s in range(0, 3)]
    assert stops[:2] == [None, None] and stops[2] is not None and stops[2].stopped_early
    late = HoldJudge(CapacitySearch(start_rps=50, objectives=Objectives(early_clear=False)),
                     400, 3, 22, measure, lambda s: 60 * (s + 1), 0)
    assert late.begin == 3  # as before issue 22: nothing judged while settling


def test_a_burst_sways_one_window_not_the_median_of_five():
    """20 judged seconds in windows of 5: one window's burst lifts the whole run's p99 over
    the objective, the median of the windows' p99 stays under it."""
    search = CapacitySearch(start_rps=10, objectives=Objectives(latency_objective_ms=63))
    p99 = {s: 20.0 for s in range(3, 23)}
    p99[9] = 400.0

    def measure(first, last, stopped_early=False, overloaded_s=0):
        return StepResult(300, 300, 0.0, max(p99[s] for s in range(first, last + 1)), 5.0)

    hold = HoldJudge(search, 300, 3, 22, measure, lambda s: 5, 3)
    for second in range(3, 23):
        hold.second_done(second)
    result = hold.result()
    assert result.window_p99_ms == (20.0, 400.0, 20.0, 20.0) and result.judged_p99_ms == 20.0
    assert result.p99_ms == 400.0 and judge(result, search.objectives, 63).passed
    strict = CapacitySearch(start_rps=10, objectives=Objectives(latency_objective_ms=63,
                                                                window_median=False))
    hold = HoldJudge(strict, 300, 3, 22, measure, lambda s: 5, 3)
    assert not judge(hold.result(), strict.objectives, 63).passed

"""The schedule is a pure function: checked by tables, never by sleeping."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.schedule import Control, Pacer, Phase, RateFunction


def rate(*phases: tuple[float, float, float]) -> RateFunction:
    return RateFunction.from_phases(
        [Phase(f"p{i}", d, a, b) for i, (d, a, b) in enumerate(phases)])


@pytest.mark.parametrize(
    ("phases", "t", "count"),
    [
        ([(10, 5, 5)], 0, 0),
        ([(10, 5, 5)], 1, 5),
        ([(10, 5, 5)], 10, 50),
        ([(10, 5, 5)], 99, 50),  # past the end: the total
        ([(10, 0, 10)], 10, 50),  # ramp 0→10 over 10 s: triangle
        ([(10, 0, 10)], 5, 12.5),
        ([(10, 10, 0)], 5, 37.5),  # ramp down
        ([(10, 2, 2), (10, 4, 4)], 15, 40),
        ([(3600, 200, 600), (3600, 600, 800)], 7200, 1_440_000 + 2_520_000),  # the blog
    ],
)
def test_count_at(phases, t, count):
    assert rate(*phases).count_at(t) == pytest.approx(count)


@pytest.mark.parametrize(
    ("phases", "count", "t"),
    [
        ([(10, 5, 5)], 0, 0.0),
        ([(10, 5, 5)], 1, 0.2),
        ([(10, 5, 5)], 49, 9.8),
        ([(10, 5, 5)], 50, None),  # beyond the last request
        ([(10, 0, 10)], 12.5, 5.0),
        ([(10, 0, 10)], 0.5, 1.0),  # starts from zero rate: a·x² = c
        ([(10, 10, 0)], 37.5, 5.0),
        ([(10, 2, 2), (10, 4, 4)], 20, 10.0),
        ([(10, 2, 2), (10, 4, 4)], 24, 11.0),
    ],
)
def test_time_of_inverts_count(phases, count, t):
    got = rate(*phases).time_of(count)
    if t is None:
        assert got is None
    else:
        assert got == pytest.approx(t)


def test_time_of_is_inverse_of_count_everywhere_on_a_ramp():
    fn = rate((30, 1, 400), (20, 400, 400), (30, 400, 0))
    for count in range(0, int(fn.total), 97):
        assert fn.count_at(fn.time_of(count)) == pytest.approx(count, abs=1e-6)


def test_pause_phase_sends_nothing_and_shifts_later_requests():
    fn = RateFunction.from_phases([Phase("a", 2, 5, 5), Phase("quiet", 3, 0, 0, pause=True),
                                   Phase("b", 2, 5, 5)])
    assert fn.rate_at(3) == 0
    assert fn.time_of(9) == pytest.approx(1.8)
    assert fn.time_of(10) == pytest.approx(5.0)  # first request after the pause
    assert fn.phase_index_at(3.5) == 1
    assert fn.total == pytest.approx(20)


@pytest.mark.parametrize(
    ("control", "t", "expected_rate"),
    [
        (Control(5, "absolute", 50), 4.9, 14.9),  # before it: the ramp 10→20
        (Control(5, "absolute", 50), 5.0, 50),
        (Control(5, "absolute", 50), 9.0, 50),
        (Control(5, "factor", 2), 7.0, 2 * 17),  # 2x a ramp 10→20 at t=7 (rate 17)
        (Control(5, "schedule", 1), 7.0, 17),
        (Control(5, "absolute", 50, paused=True), 7.0, 0),
    ],
)
def test_controls_reshape_the_rate_from_their_time(control, t, expected_rate):
    fn = rate((10, 10, 20)).with_controls([control])
    assert fn.rate_at(t) == pytest.approx(expected_rate)
    # Nothing changes before the control: counts so far are the same.
    assert fn.count_at(control.at) == pytest.approx(rate((10, 10, 20)).count_at(control.at))


def test_return_to_schedule_and_resume():
    base = rate((100, 10, 10))
    fn = base.with_controls([
        Control(10, "absolute", 30), Control(20, "absolute", 30, paused=True),
        Control(30, "absolute", 30, paused=False), Control(40, "schedule", 1),
    ])
    assert [fn.rate_at(t) for t in (5, 15, 25, 35, 45)] == [10, 30, 0, 30, 10]
    assert fn.total == pytest.approx(100 + 300 + 0 + 300 + 600)


def test_workers_split_the_same_stream():
    """W workers taking every W-th request send exactly what one worker would."""
    fn = rate((10, 3, 30))

    def times(pacer: Pacer) -> list[float]:
        out = []
        while (t := pacer.peek()) is not None:
            out.append(t)
            pacer.take()
        return out

    single = times(Pacer(fn))
    merged = sorted(t for i in range(3) for t in times(Pacer(fn, index=i, workers=3)))
    assert merged == pytest.approx(single)
    assert len(single) == math.ceil(fn.total)


def test_poisson_arrivals_keep_the_rate_and_vary_the_gaps():
    fn = rate((200, 50, 50))
    pacer = Pacer(fn, arrivals="poisson", seed=7)
    times = []
    while (t := pacer.peek()) is not None:
        times.append(t)
        pacer.take()
    assert len(times) == pytest.approx(10_000, rel=0.03)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    variance = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    assert mean == pytest.approx(0.02, rel=0.03)
    # Exponential gaps: the standard deviation equals the mean (even spacing would give 0).
    assert math.sqrt(variance) == pytest.approx(mean, rel=0.1)


def test_due_between_is_the_worker_share():
    pacer = Pacer(rate((10, 100, 100)), index=1, workers=4)
    assert pacer.due_between(2, 3) == pytest.approx(25)


phase_lists = st.lists(st.tuples(st.floats(0.001, 5), st.floats(0, 40), st.floats(0, 40)),
                       min_size=1, max_size=4)


@given(phase_lists, st.integers(1, 3))
def test_the_plan_counts_what_the_pacers_send(phases, workers):
    """Per phase, the plan's count (requests_before) is what the workers' pacers send."""
    function = rate(*phases)
    edges = list(itertools.accumulate((d for d, _a, _b in phases), initial=0.0))
    planned = [function.requests_before(b) - function.requests_before(a)
               for a, b in itertools.pairwise(edges)]
    sent = [0] * len(phases)
    for index in range(workers):
        pacer = Pacer(function, index, workers)
        while (t := pacer.peek()) is not None:
            pacer.take()
            sent[function.phase_index_at(t)] += 1
    assert sent == planned
def _skip_by_hand(pacer: Pacer, t: float) -> int:
    count = 0
    while (intended := pacer.peek()) is not None and intended <= t:
        pacer.take()
        count += 1
    return count


@pytest.mark.parametrize("arrivals", ["even", "poisson"])
@pytest.mark.parametrize(("index", "workers"), [(0, 1), (1, 3)])
@pytest.mark.parametrize("phases", [[(10, 100, 100)], [(10, 0, 50), (5, 50, 0)]])
def test_skip_until_takes_what_taking_one_by_one_takes(arrivals, index, workers, phases):
    bulk = Pacer(rate(*phases), index, workers, arrivals, seed=3)
    one_by_one = Pacer(rate(*phases), index, workers, arrivals, seed=3)
    for t in (0.0, 0.013, 1.2345, 4.999, 7.77, 14.9, 15.0, 99.0):
        assert bulk.skip_until(t) == _skip_by_hand(one_by_one, t)
        assert bulk.peek() == one_by_one.peek()


def test_skip_until_stops_at_its_limit():
    pacer = Pacer(rate((10, 1000, 1000)))
    assert pacer.skip_until(5.0, limit=100) == 100
    assert pacer.peek() == pytest.approx(0.1)


@pytest.mark.parametrize(("index", "workers"), [(0, 1), (1, 3), (2, 3)])
def test_remaining_counts_what_is_left_of_the_share(index, workers):
    pacer = Pacer(rate((10, 10, 10)), index, workers)  # 100 requests, 0..99
    share = len(range(index, 100, workers))
    assert pacer.skip_until(2.0) == len(range(index, 21, workers))
    assert pacer.remaining() == share - len(range(index, 21, workers))
    assert pacer.peek() is None


constant_or_ramp = st.lists(
    st.one_of(st.tuples(st.floats(0.001, 5), st.floats(0, 3000), st.floats(0, 3000)),
              st.floats(0.001, 5).flatmap(lambda d: st.floats(0.01, 3000).map(
                  lambda r: (d, r, r)))),
    min_size=1, max_size=4)


@given(constant_or_ramp, st.integers(1, 3), st.data())
def test_pacer_fast_path_gives_time_of_to_the_last_bit(phases, workers, data):
    """Inside a constant-rate piece the pacer skips ``time_of``'s search and square root:
    every intended time is still exactly ``time_of`` of its position, also across a live
    control that swaps the rate function mid-way."""
    function = rate(*phases)
    index = data.draw(st.integers(0, workers - 1))
    switch_after = data.draw(st.integers(0, 400))
    factor = data.draw(st.sampled_from([0.5, 1.0, 3.0]))
    pacer = Pacer(function, index, workers)
    for n in range(800):
        if n == switch_after:
            at = pacer.peek() or 0.0
            pacer.rate = function.with_controls([Control(at, "factor", factor)])
        expected = pacer.rate.time_of(float(pacer.sent * workers + index))
        assert pacer.peek() == expected
        if expected is None:
            break
        pacer.take()

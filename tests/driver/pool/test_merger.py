"""TickMerger: a late tick is counted once; a lost worker's share fills the seconds it missed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from driver.pool import TickMerger
from driver.schedule import Pacer, Phase, RateFunction
from metrics.records import Tick

PHASES = [Phase("steady", 10.0, 30.0, 30.0)]


def tick(second: int, sent: int) -> Tick:
    return Tick(second=second, t=float(second), elapsed=float(second), phase=None,
                phase_index=0, target_rps=15.0, sent=sent, completed=sent)


@settings(max_examples=200, deadline=None)
@given(st.permutations([(w, s) for w in range(3) for s in range(6)]),
       st.lists(st.floats(0, 12), min_size=18, max_size=18))
def test_every_tick_is_counted_once_whatever_arrives_late(order, nows):
    merger = TickMerger(range(3), PHASES, count=3)
    out: list[Tick] = []
    for (worker, second), now in zip(order, nows, strict=True):
        out += merger.add(worker, tick(second, 10 * worker + second + 1))
        out += merger.ready(now=now, deadline=2.0)
    out += merger.ready(force=True)
    assert sum(t.sent for t in out) == sum(10 * w + s + 1 for w, s in order)
    seconds = [t.second for t in out]
    assert seconds == sorted(seconds) and len(seconds) == len(set(seconds))


def test_a_lost_share_is_the_plan_and_ends_where_the_replacement_starts():
    rate = RateFunction.from_phases(PHASES)
    merger = TickMerger(range(2), PHASES, count=2, rate=rate)
    for second in range(3):
        merger.add(0, tick(second, 15))
        merger.add(1, tick(second, 15))
    merger.worker_lost(1)  # worker 1 reported seconds 0-2, then died
    merger.worker_joined(1, 6)  # its replacement sends from second 6
    out = []
    for second in range(3, 10):
        out += merger.add(0, tick(second, 15))
        if second >= 6:
            out += merger.add(1, tick(second, 15))
    out += merger.ready(force=True)
    filled = {t.second: t.not_sent for t in out}
    assert filled == {3: 15, 4: 15, 5: 15, 6: 0, 7: 0, 8: 0, 9: 0}
    assert all(t.target_rps == 30.0 for t in out)
    # What the replacement skips is exactly what was counted as not sent.
    pacer = Pacer(rate, 1, 2)
    pacer.start_at(6.0)
    assert pacer.sent == 3 * 15 + sum(filled.values())


def test_a_poisson_replacement_continues_the_sequence_of_the_worker_it_replaces():
    rate = RateFunction.from_phases(PHASES)
    whole = Pacer(rate, 1, 3, "poisson", seed=7)
    times = []
    while (t := whole.peek()) is not None:
        times.append(t)
        whole.take()
    late = Pacer(rate, 1, 3, "poisson", seed=7)
    late.start_at(4.0)
    assert late.peek() == next(t for t in times if t >= 4.0)


def test_a_lost_share_is_not_due_once_sending_stops():
    merger = TickMerger(range(2), PHASES, count=2)
    out = merger.add(0, tick(0, 15)) + merger.add(1, tick(0, 15))
    merger.worker_lost(1)
    merger.close_all(3)  # killed during second 2
    for second in range(1, 5):
        out += merger.add(0, tick(second, 15 if second < 3 else 0))
    out += merger.ready(force=True)
    assert {t.second: t.not_sent for t in out} == {0: 0, 1: 15, 2: 15, 3: 0, 4: 0}

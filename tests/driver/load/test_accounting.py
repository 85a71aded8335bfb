"""A worker's counts, without a network: each request in the second it happened, error events
on first sight then at most every 30 s, and the drain's future when the last request ends."""

from __future__ import annotations

from dataclasses import dataclass

from driver.http import HttpError
from driver.load.accounting import ERROR_EVENT_INTERVAL_S, RequestCounter
from driver.pool import EventMessage, TickMessage
from driver.schedule import Pacer, Phase, RateFunction
from metrics import hdr

T0, EPOCH0 = 512.0, 1_700_000_000.0


@dataclass
class Request:
    seq: int
    intended: float
    sent: float = 0.0

    def abort(self, error: HttpError) -> None:
        raise AssertionError("not aborted here")


def counter(emitted: list) -> RequestCounter:
    phases = [Phase("warm", 1, 10, 10), Phase("peak", 2, 20, 20)]
    schedule = RateFunction.from_phases(phases)
    counted = RequestCounter(emitted.append, 3, schedule, [p.name for p in phases],
                             Pacer(schedule), late_s=0.005)
    counted.start(T0, EPOCH0, 0)
    return counted


def send(counted: RequestCounter, seq: int, intended: float, sent: float) -> Request:
    request = Request(seq, T0 + intended)
    counted.in_flight[seq] = request
    request.sent = T0 + sent
    counted.sent(request)
    return request


def ticks(emitted: list) -> list:
    return [m.tick for m in emitted if isinstance(m, TickMessage)]


def test_each_request_counts_in_the_second_it_was_sent_and_ended():
    emitted: list = []
    counted = counter(emitted)
    first = send(counted, 1, 0.5, 0.502)  # 2 ms of send lag: not late
    second = send(counted, 2, 0.9, 0.95)  # 50 ms: late
    send(counted, 3, 0.96, 0.97)  # still in flight at both ticks
    counted.ended(first, "ok", 200, None, None, T0 + 0.6, False)
    # The second ends after the second's end: that second is closed (a tick) first.
    counted.ended(second, "5xx", 503, None, "busy", T0 + 1.2, True)
    counted.emit_tick(final=True)
    one, two = ticks(emitted)
    assert (one.second, one.phase, one.sent, one.completed, one.late) == (0, "warm", 3, 1, 2)
    # In flight: the mean over the second, each request from its intended send to its end
    # (0.5-0.6, 0.9-1.0, 0.96-1.0), not a count at the second's end (issue 25).
    assert (one.in_flight, one.target_rps, one.t) == (0.24, 10, EPOCH0)
    assert hdr.decode(one.latency).get_total_count() == 1
    assert hdr.decode(one.lag).get_total_count() == 3
    assert (two.second, two.phase, two.sent, two.completed) == (1, "peak", 0, 1)
    assert (two.outcomes, two.status, two.retried, two.in_flight) == ({"5xx": 1}, {"503": 1},
                                                                      1, 1.2)  # 0.2 + 1
    assert hdr.decode(two.failed_latency).get_total_count() == 1
    assert counted.totals == [3, 2, 0]
    assert list(counted.in_flight) == [3]


def test_an_error_code_is_an_event_when_first_seen_then_at_most_every_interval():
    emitted: list = []
    counted = counter(emitted)
    ends = [0.125, 0.25, ERROR_EVENT_INTERVAL_S - 1, ERROR_EVENT_INTERVAL_S + 1]
    for seq, end in enumerate(ends, start=1):
        request = send(counted, seq, 0.0, 0.0)
        counted.ended(request, "throttled", 429, "ThrottlingException", "slow down", T0 + end,
                      False)
    events = [m.event for m in emitted if isinstance(m, EventMessage)]
    assert [(e.elapsed, e.data["count"], e.data["first"]) for e in events] == [
        (0.125, 1, True), (ERROR_EVENT_INTERVAL_S + 1, 3, False)]
    assert events[0].message == "ThrottlingException: slow down"
    assert events[0].data["worker"] == 3


async def test_the_drain_hears_when_the_last_request_leaves():
    counted = counter([])
    waiting, sent = Request(1, T0), send(counted, 2, 0.0, 0.0)
    counted.in_flight[1] = waiting
    drained = counted.drained()
    counted.unsent(waiting)
    counted.check_drained()
    assert not drained.done()
    counted.ended(sent, "ok", 200, None, None, T0 + 0.1, False)
    assert drained.done()
    assert counted.bucket.not_sent == 1

"""The client-bound verdict from ticks: late sends, busy workers, a lagging loop."""

from __future__ import annotations

from metrics.client_load import ADVICE_CONNECTIONS, client_load
from metrics.records import Tick
from metrics.stats import merge_ticks


def _tick(second: int, sent: int, late: int = 0, cpu: dict | None = None, lag: float = 0.0,
          not_sent: int = 0, in_flight: float = 0.0) -> Tick:
    return Tick(second=second, t=float(second), elapsed=float(second), phase="p",
                phase_index=0, target_rps=sent, sent=sent, late=late, not_sent=not_sent,
                cpu=cpu or {}, loop_lag_ms=lag, in_flight=in_flight)


def test_a_run_that_kept_up_is_not_limited() -> None:
    ticks = [_tick(s, 100, late=1, cpu={"0": 0.2}, lag=2.0) for s in range(20)]
    result = client_load(ticks, late_ms=10)
    assert result["limited"] is False and result["message"] is None
    assert result["cpu_max"] == {"0": 0.2}


def test_late_sends_say_how_many_and_what_to_do() -> None:
    ticks = [_tick(s, 100, late=12, cpu={"0": 0.5}) for s in range(10)]
    result = client_load(ticks, late_ms=10)
    assert result["message"] == ("limited by the load generator: 12 % of requests sent late "
                                 "(over 10 ms); add workers")


def test_late_sends_while_every_connection_is_in_use_are_waits_for_one() -> None:
    """A saturated server holds all 256 connections (seen against nginx -> gunicorn): the
    worker is idle, its sends wait for a connection. The advice is connections, not CPU."""
    calm = [_tick(s, 500, cpu={"0": 0.1}, in_flight=40.0) for s in range(10)]
    held = [_tick(s, 400, late=380, cpu={"0": 0.1}, in_flight=1200.0) for s in range(10, 30)]
    result = client_load(calm + held, late_ms=10, connections=256)
    assert result["limited"] is True and result["advice"] == ADVICE_CONNECTIONS
    assert result["message"] == (
        "limited by the load generator: 58 % of requests sent late (over 10 ms), waiting for a "
        "connection: all 256 in use; raise load.connections if the server can take more at "
        "once")
    # The same sends with a busy worker: the CPU is the first thing to fix.
    busy = [_tick(s, 400, late=380, cpu={"0": 0.97}, in_flight=1200.0) for s in range(20)]
    assert client_load(busy, connections=256)["advice"] == "add workers"
    # A worker short of busy yet far from idle (a shared host, a 2 s run): its own slowness
    # may hold the connections, so it is not the server's doing.
    working = [_tick(s, 400, late=380, cpu={"0": 0.7}, in_flight=1200.0) for s in range(20)]
    assert client_load(working, connections=256)["advice"] == "add workers"
    # Idle, but its event loop lagged: the same.
    lagging = [_tick(s, 400, late=380, cpu={"0": 0.1}, in_flight=1200.0, lag=30.0 * (s == 3))
               for s in range(20)]
    assert client_load(lagging, connections=256)["advice"] == "add workers"
    # Not known how many connections (an older recording): the old words.
    assert client_load(held)["message"].endswith("(over 10 ms); add workers")


def test_a_busy_worker_and_a_lagging_loop_with_requests_not_sent() -> None:
    ticks = [_tick(s, 100, cpu={"0": 0.97, "1": 0.3}, lag=40.0, not_sent=5) for s in range(10)]
    result = client_load(ticks, late_ms=10)
    assert result["limited"] is True
    assert result["reasons"] == [
        "worker 0 at 97 % of a core (100 % of seconds over 90 %)",
        "event loop late by up to 40 ms (100 % of seconds over 10 ms)",
        "4.8 % of requests not sent"]


def test_requests_not_sent_alone_are_the_servers_doing() -> None:
    ticks = [_tick(s, 100, cpu={"0": 0.3}, not_sent=50) for s in range(10)]
    assert client_load(ticks)["limited"] is False


def test_workers_cpu_merges_per_worker() -> None:
    merged = merge_ticks([_tick(0, 5, cpu={"0": 0.4}, lag=3.0),
                          _tick(0, 5, cpu={"1": 0.6}, lag=7.0)])
    assert merged.cpu == {"0": 0.4, "1": 0.6} and merged.loop_lag_ms == 7.0

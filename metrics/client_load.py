"""Was the load generator the limit? A run's own load judged from its ticks.

An open-model run is only as good as its sends: a worker that cannot keep up sends late (past
``lateMs``), does not send at all, or holds its event loop so that every timer fires late —
and the server then looks better than it is. Each worker puts its CPU share and its loop's
worst lag into its ticks (``Tick.cpu``, ``Tick.loop_lag_ms``); ``ClientLoad`` adds the ticks
of a run up and ``verdict`` says, in one line, whether the client limited it and why:
``limited by the load generator: 12 % of requests sent late; add workers``.

The thresholds are shares, not single bad seconds: a GC pause or a slow start is not a
verdict. Requests not sent count only beside another sign, since a server that holds every
connection (the in-flight cap) makes them too. A send is late when the request waits for a
connection, so late sends in seconds when all of the client's connections were in use
(``connections``: ``load.connections`` x workers) are said to be that, with the advice that
fits (raise ``load.connections``), not a busy worker's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metrics.records import Tick

LATE_SHARE = 0.05  # of requests sent past lateMs
BUSY_CORE = 0.90  # a worker's CPU, as a fraction of one core, that counts as busy
BUSY_SHARE = 0.25  # of the schedule's seconds the busiest worker was busy
LAG_SHARE = 0.25  # of the seconds whose loop lag passed lateMs (a shared host lags at times)
NOT_SENT_SHARE = 0.01  # of requests due, not sent (counted only beside another sign)
HELD_SHARE = 0.95  # a second's mean requests in flight, of the connections: all in use
IDLE_CORE = 0.5  # the busiest worker's CPU under this, in every second: it had time to spare
ADVICE_WORKERS = "add workers"
# The server held every connection: more let it take more at once, if it can (workers bring
# their own connections too).
ADVICE_CONNECTIONS = "raise load.connections if the server can take more at once"


@dataclass
class ClientLoad:
    """The load generator's own figures over a run, added tick by tick."""

    late_ms: float = 10.0
    connections: int | None = None  # all workers' connections (None: not known)
    seconds: int = 0
    sent: int = 0
    late: int = 0
    late_held: int = 0  # late sends in seconds when every connection was in use
    not_sent: int = 0
    busy_seconds: int = 0
    lagging_seconds: int = 0
    measured_seconds: int = 0  # seconds whose ticks carried the workers' CPU (format 3+)
    loop_lag_max_ms: float = 0.0
    cpu_max: dict[str, float] = field(default_factory=dict)
    cpu_sum: dict[str, float] = field(default_factory=dict)
    cpu_n: dict[str, int] = field(default_factory=dict)

    def add(self, tick: Tick) -> None:
        if not tick.in_schedule:
            return
        self.seconds += 1
        self.sent += tick.sent
        self.late += tick.late
        if self.connections and tick.in_flight >= HELD_SHARE * self.connections:
            self.late_held += tick.late
        self.not_sent += tick.not_sent
        if tick.cpu:
            self.measured_seconds += 1
            if max(tick.cpu.values()) >= BUSY_CORE:
                self.busy_seconds += 1
        for worker, share in tick.cpu.items():
            self.cpu_max[worker] = max(self.cpu_max.get(worker, 0.0), share)
            self.cpu_sum[worker] = self.cpu_sum.get(worker, 0.0) + share
            self.cpu_n[worker] = self.cpu_n.get(worker, 0) + 1
        if tick.loop_lag_ms > self.late_ms:
            self.lagging_seconds += 1
        self.loop_lag_max_ms = max(self.loop_lag_max_ms, tick.loop_lag_ms)

    def result(self) -> dict[str, Any]:
        """The figures and the verdict, as the summary holds them (``summary["client"]``)."""
        due = self.sent + self.not_sent
        late_pct = 100.0 * self.late / self.sent if self.sent else 0.0
        not_sent_pct = 100.0 * self.not_sent / due if due else 0.0
        measured = max(self.measured_seconds, 1)
        busy_pct = 100.0 * self.busy_seconds / measured
        lag_pct = 100.0 * self.lagging_seconds / max(self.seconds, 1)
        reasons = []
        held = self.late > 0 and self.late_held >= 0.5 * self.late
        if late_pct >= 100 * LATE_SHARE:
            reasons.append(f"{late_pct:.0f} % of requests sent late (over {self.late_ms:g} ms)"
                           + (f", waiting for a connection: all {self.connections} in use"
                              if held else ""))
        if self.measured_seconds and busy_pct >= 100 * BUSY_SHARE:
            busiest = max(self.cpu_max, key=lambda w: self.cpu_max[w])
            reasons.append(f"worker {busiest} at {100 * self.cpu_max[busiest]:.0f} % of a core "
                           f"({busy_pct:.0f} % of seconds over {100 * BUSY_CORE:.0f} %)")
        if lag_pct >= 100 * LAG_SHARE:
            reasons.append(f"event loop late by up to {self.loop_lag_max_ms:.0f} ms "
                           f"({lag_pct:.0f} % of seconds over {self.late_ms:g} ms)")
        # The server held the connections only if the worker had time to spare: a worker slow
        # to read its answers holds them too (one asked for 40,000 req/s of a static nginx).
        idle = (self.measured_seconds > 0 and max(self.cpu_max.values()) < IDLE_CORE
                and self.loop_lag_max_ms <= self.late_ms)
        connection_bound = held and idle and len(reasons) == 1
        if reasons and not_sent_pct >= 100 * NOT_SENT_SHARE:
            reasons.append(f"{not_sent_pct:.1f} % of requests not sent")
        advice = ADVICE_CONNECTIONS if connection_bound else ADVICE_WORKERS
        return {
            "limited": bool(reasons),
            "message": verdict(reasons, advice),
            "reasons": reasons,
            "advice": advice if reasons else None,
            "late_pct": round(late_pct, 3),
            "not_sent_pct": round(not_sent_pct, 3),
            "busy_seconds_pct": round(busy_pct, 1) if self.measured_seconds else None,
            "loop_lag_max_ms": round(self.loop_lag_max_ms, 2),
            "lagging_seconds_pct": round(lag_pct, 1),
            "cpu_max": {w: self.cpu_max[w] for w in sorted(self.cpu_max, key=int)},
            "cpu_mean": {w: round(self.cpu_sum[w] / self.cpu_n[w], 3)
                         for w in sorted(self.cpu_sum, key=int)},
            "late_ms": self.late_ms,
        }


def verdict(reasons: list[str], advice: str = ADVICE_WORKERS) -> str | None:
    """``limited by the load generator: …; add workers`` (or the advice given), or None when
    it was not."""
    if not reasons:
        return None
    return "limited by the load generator: " + ", ".join(reasons) + "; " + advice


def from_header_load(load: dict[str, Any] | None) -> ClientLoad:
    """An empty ``ClientLoad`` for the run whose header's ``meta.load`` this is."""
    load = load or {}
    per_worker = load.get("connections")
    return ClientLoad(float(load.get("late_ms", 10.0)),
                      int(per_worker) * int(load.get("workers") or 1) if per_worker else None)


def client_load(ticks: list[Tick], late_ms: float = 10.0,
                connections: int | None = None) -> dict[str, Any]:
    """``ClientLoad(...).result()`` of a list of ticks (a recording, a window)."""
    load = ClientLoad(late_ms, connections)
    for tick in ticks:
        load.add(tick)
    return load.result()

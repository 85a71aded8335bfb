"""The demand a virtual run serves: requests per second, from a profile's schedule or a recording.

From a profile: the same pure schedule the workers pace by (``driver.schedule.RateFunction``):
second k carries the requests j with C(k) <= j < C(k+1), evenly spaced, or for Poisson
arrivals a Poisson number of them at uniform times (seeded). From a recording: each second's
due requests, the ticks' ``target_rps`` (the rate the run was asked for that second, the
operator's changes included; the client's lateness and in-flight cap are not replayed, the
virtual run applies the cap again); for a closed-loop (concurrency) recording, each second's
``sent`` and ``not_sent``. The phases are the recording's plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driver.profile import Profile, describe_plan
from driver.schedule import Phase, RateFunction
from metrics.recording import Recording
from metrics.records import Tick


@dataclass
class Traffic:
    counts: np.ndarray  # requests due per second
    target_rps: np.ndarray  # the schedule's rate (mean over the second)
    phase_index: np.ndarray
    phase_names: list[str]
    poisson: bool = False
    timeout_s: float = 30.0
    # The client's cap on requests in flight, all workers together (``load.max_in_flight`` x
    # ``load.workers``): a due request that finds it reached is not sent. None: no cap.
    max_in_flight: int | None = None
    plan: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    profile: Profile | None = None

    @property
    def seconds(self) -> int:
        return len(self.counts)

    @property
    def requests(self) -> int:
        return int(self.counts.sum())

    def arrivals(self, second: int, rng: np.random.Generator) -> np.ndarray:
        """Offsets in [0, 1) of the second's arrivals, sorted."""
        due = int(self.counts[second])
        if self.poisson:
            n = int(rng.poisson(due)) if due else 0
            return np.sort(rng.random(n))
        return (np.arange(due, dtype=np.float64) + 0.5) / max(due, 1)


def traffic_from_profile(profile: Profile) -> Traffic:
    rate = RateFunction.from_phases(profile.phases)
    seconds = int(np.ceil(rate.duration))
    before = np.array([rate.requests_before(float(k)) for k in range(seconds + 1)])
    counts = np.diff(before)
    target = np.array([rate.count_at(k + 1.0) - rate.count_at(float(k)) for k in range(seconds)])
    phase = np.array([rate.phase_index_at(k + 0.5) for k in range(seconds)], dtype=np.int64)
    return Traffic(counts, target, phase, [p.name for p in profile.phases],
                   poisson=profile.load.arrivals == "poisson", timeout_s=profile.load.timeout,
                   max_in_flight=profile.load.max_in_flight * profile.load.workers,
                   plan=describe_plan(profile), source=str(profile.path or "profile"),
                   profile=profile)


def client_in_flight_cap(load: dict[str, Any] | None) -> int | None:
    """The client's cap on requests in flight, all workers together, from a recording's
    ``meta.load`` (None when the recording does not say)."""
    load = load or {}
    if not load.get("max_in_flight"):
        return None
    return int(load["max_in_flight"]) * int(load.get("workers") or 1)


def traffic_from_recording(recording: Recording) -> Traffic:
    ticks = [r for r in recording.records if isinstance(r, Tick) and r.in_schedule]
    if not ticks:
        raise ValueError(f"{recording.path}: no ticks: nothing to replay")
    seconds = max(t.second for t in ticks) + 1
    counts = np.zeros(seconds, dtype=np.int64)
    target = np.zeros(seconds)
    phase = np.zeros(seconds, dtype=np.int64)
    names: dict[int, str] = {}
    for tick in ticks:
        counts[tick.second] += tick.sent + tick.not_sent
        target[tick.second] = tick.target_rps
        phase[tick.second] = tick.phase_index
        names.setdefault(tick.phase_index, tick.phase or f"phase {tick.phase_index + 1}")
    plan = list(recording.header.meta.get("plan") or [])
    load = recording.header.meta.get("load") or {}
    if load.get("mode", "rate") == "rate":
        # An open-model run: the demand is what was due each second, the schedule's rate as
        # the run had it (operator's changes included), not when the client got the sends out
        # (a client waiting for connections sends late, in bursts shaped by the old policy).
        # Request j is due at C^-1(j): every j < C(t) by t, as the workers pace them. (A
        # closed-loop run keeps its sends and not-sent: the cap is the twin's to apply.)
        due = np.ceil(np.concatenate(([0.0], np.cumsum(target))) - 1e-9)
        counts = np.diff(due).astype(np.int64)
    return Traffic(counts, target, phase,
                   [names.get(i, f"phase {i + 1}") for i in range(max(names) + 1)],
                   poisson=load.get("arrivals") == "poisson",
                   timeout_s=float(load.get("timeout", 30.0)),
                   max_in_flight=client_in_flight_cap(load), plan=plan,
                   source=str(recording.path))


def constant_traffic(rps: float, seconds: int, name: str = "steady") -> Traffic:
    """A constant rate (the speed benchmark's hour at 1,000 req/s)."""
    rate = RateFunction.from_phases([Phase(name, float(seconds), rps, rps)])
    before = np.array([rate.requests_before(float(k)) for k in range(seconds + 1)])
    return Traffic(np.diff(before), np.full(seconds, float(rps)),
                   np.zeros(seconds, dtype=np.int64), [name],
                   plan=[{"name": name, "start": 0.0, "duration": float(seconds),
                          "rate_start": rps, "rate_end": rps, "pause": False,
                          "requests": rps * seconds}], source=f"{rps:g} req/s for {seconds} s")

"""A recording cut into steps: stretches of seconds at one offered rate, with their figures.

A step is a run of consecutive in-schedule seconds whose target rate stays within 1 % (a
find-capacity run's baseline and steps, a profile's constant phases); its first
``SETTLE_S`` seconds are left out (queues adapt to the new rate) and steps with fewer than
``MIN_SECONDS`` left are dropped (a ramp). A step past saturation (``past_saturation``) cut
short, as find-capacity cuts a clear failure after a few seconds, is kept from its second
second when at least ``MIN_OVERLOADED_SECONDS`` remain: an overload shows at once (the queue
fills in a fraction of a second), and without these steps a search of a server that turns
requests away leaves nothing past saturation to fit. Each step's figures come from the ticks'
HDR histograms merged, and the server's ModelLatency from the datapoints whose period starts in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics import hdr
from metrics.recording import Recording
from metrics.records import OK, Datapoint, EndpointState, Tick

QUANTILES = (0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0)
SETTLE_S = 2
MIN_SECONDS = 3
MIN_OVERLOADED_SECONDS = 2
OVERLOADED_SHARE = 0.05  # a step past saturation: this share of its requests failed,
SHORT_SHARE = 0.9  # or it served less than this share of the offered rate (its queue grew)


@dataclass(frozen=True, slots=True)
class Step:
    recording: str
    first: int  # elapsed seconds [first, last] judged
    last: int
    rate: float  # offered, req/s
    ok_rps: float
    error_share: float  # of requests due: failed, timed out or not sent
    service_mean_ms: float | None  # client service time of ok requests (from actual send)
    service_std_ms: float | None
    p50_ms: float | None  # client latency of ok requests (from intended send)
    p99_ms: float | None
    model_latency_ms: float | None  # server ModelLatency, Average over the step's periods
    instances: int  # the most serving during the step (1 when the recording has no states)
    service_quantiles_ms: list[tuple[float, float]]  # (percent, ms) at QUANTILES
    settled: int = SETTLE_S  # seconds of the run left out before ``first``
    not_sent_share: float = 0.0  # of requests due: the client's in-flight cap was reached

    @property
    def turned_away_share(self) -> float:
        """Of requests due, those the server turned away or let time out (not the client's
        not sent)."""
        return self.error_share - self.not_sent_share

    @property
    def seconds(self) -> list[int]:
        return [self.first, self.last]

    @property
    def past_saturation(self) -> bool:
        return self.p99_ms is not None and (self.error_share > OVERLOADED_SHARE
                                            or self.ok_rps < SHORT_SHARE * self.rate)


def steps_of(recording: Recording) -> list[Step]:
    ticks = sorted((r for r in recording.records if isinstance(r, Tick) and r.in_schedule),
                   key=lambda t: t.second)
    by_second: dict[int, list[Tick]] = {}
    for tick in ticks:
        by_second.setdefault(tick.second, []).append(tick)
    runs: list[list[int]] = []
    last_rate: float | None = None
    for second in sorted(by_second):
        rate = sum(t.target_rps for t in by_second[second])
        same = last_rate is not None and abs(rate - last_rate) <= 0.01 * max(last_rate, 1e-9)
        if same and runs and runs[-1][-1] == second - 1:
            runs[-1].append(second)
        else:
            runs.append([second])
        last_rate = rate
    datapoints = [r for r in recording.records if isinstance(r, Datapoint)]
    # desired too: a step during which a scale-out was asked for is not one instance's.
    states = [(r.elapsed, max((max(v.get("current", 1), v.get("desired", 1))
                               for v in r.variants), default=1))
              for r in recording.records if isinstance(r, EndpointState)]
    steps = []
    for run in runs:
        if len(run) - SETTLE_S >= MIN_SECONDS:
            step = _judged(recording, run[SETTLE_S:], by_second, datapoints, states, SETTLE_S)
        elif len(run) - 1 >= MIN_OVERLOADED_SECONDS:  # cut short: kept only past saturation
            step = _judged(recording, run[1:], by_second, datapoints, states, 1)
            step = step if step is not None and step.past_saturation else None
        else:
            step = None
        if step is not None:
            steps.append(step)
    return steps


def _judged(recording: Recording, judged: list[int], by_second: dict[int, list[Tick]],
            datapoints: list[Datapoint], states: list[tuple[float, int]],
            settled: int) -> Step | None:
    if not judged:
        return None
    # The judged seconds' median: the first second of a step may be part of a ramp into it.
    rate = float(np.median([sum(t.target_rps for t in by_second[s]) for s in judged]))
    if rate <= 0:
        return None
    serving = [n for at, n in states if judged[0] <= at <= judged[-1] + 1]
    serving += [n for at, n in states if at < judged[0]][-1:]
    return _step(recording, judged, [t for s in judged for t in by_second[s]], rate,
                 datapoints, max(serving, default=1), settled)


def _step(recording: Recording, seconds: list[int], ticks: list[Tick], rate: float,
          datapoints: list[Datapoint], instances: int, settled: int) -> Step:
    n = len(seconds)
    ok = sum(t.outcomes.get(OK, 0) for t in ticks)
    not_sent = sum(t.not_sent for t in ticks)
    ended = sum(sum(t.outcomes.values()) for t in ticks) + not_sent
    latency = hdr.merge(t.latency for t in ticks)
    service = hdr.merge(t.service for t in ticks)
    count = service.get_total_count()
    start = recording.header.t + seconds[0]
    end = recording.header.t + seconds[-1] + 1
    model = [(d.value, d.period) for d in datapoints
             if d.metric == "ModelLatency" and d.stat == "Average" and not d.revised
             and start <= d.t and d.t + d.period <= end]
    return Step(
        recording=str(recording.path), first=seconds[0], last=seconds[-1], rate=rate,
        ok_rps=ok / n, error_share=(ended - ok) / ended if ended else 0.0,
        not_sent_share=not_sent / ended if ended else 0.0,
        service_mean_ms=hdr.mean_us(service) / 1000.0 if count else None,
        service_std_ms=service.get_stddev() / 1000.0 if count else None,
        p50_ms=hdr.percentile_ms(latency, 50), p99_ms=hdr.percentile_ms(latency, 99),
        model_latency_ms=sum(v for v, _ in model) / len(model) if model else None,
        instances=instances,
        service_quantiles_ms=list(zip(QUANTILES, (v / 1000.0 for v in hdr.percentiles_us(
            service, QUANTILES)), strict=True)) if count else [], settled=settled)

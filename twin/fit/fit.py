"""Fit one instance's twin from recordings, every value with the recording and seconds it came from.

- service time (mean, spread, percentiles) and ModelLatency: the calmest step (smallest
  p99) without errors below half the capacity;
- sustained capacity: the successful rate of the steps past saturation (503s or timeouts on
  more than 5 % of requests, or served short of the offered rate by more than 10 %: a queue
  that grows without turning anyone away, as nginx -> gunicorn's), where the instance serves
  all it can;
- parallelism: capacity x the mean time inside the instance (Little's law at saturation);
- queue bound: past saturation the queue stays full, so most successful requests waited for
  all of it: ``(p50 - service time) x capacity`` requests were ahead of them; when no step
  past saturation turned requests away the queue has no bound of its own and the client's
  timeout bounds the wait: ``capacity x timeout``;
- provisioning delay: a scale-out's start to the endpoint's instance count rising, midway
  between the two polls around it (any recording with a scale-out; else the sandbox's
  default, said so);
- publication delay: the earliest a CloudWatch datapoint reached the recording after its
  period ended (known to the second; the poller's interval adds to the others);
- the period: the SageMaker datapoints' period;
- fast and slow stretches (``stretches``): when the seconds in which a queue stood served at
  two clearly different rates, the instance alternates between them; each rate and its mean
  stretch length (absent: one capacity).

Then each fitted step is run on the twin in virtual time, and its p50, p99 and error share set
beside the measured ones. ``FitError`` says what is missing and which run would give it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from metrics.recording import Recording
from metrics.records import Datapoint, EndpointState, ScalingActivity, Tick
from sandbox.config import FAST
from twin.fit.steps import OVERLOADED_SHARE, SHORT_SHARE, Step, steps_of
from twin.fit.stretches import fit_stretches
from twin.model import Twin
from twin.virtual import VirtualRun, client_in_flight_cap, constant_traffic

CLEAN_SHARE = 0.01  # a step below saturation


class FitError(ValueError):
    """The recordings cannot give a field: the message says which and what run would."""


def fit(recordings: Sequence[Recording]) -> Twin:
    # One instance's steps only: a run that scaled out tells the provisioning delay.
    steps = [s for r in recordings for s in steps_of(r) if s.instances <= 1]
    if not steps:
        raise FitError("no step of constant load long enough to measure (3 s after 2 s of "
                       "settling): record a `loadwatch find-capacity` run")
    clean = [s for s in steps if s.error_share <= CLEAN_SHARE and s.service_mean_ms]
    if not clean:
        raise FitError("no step without errors: the service time at low load cannot be "
                       "measured; record a `loadwatch find-capacity` run (its baseline is low)")
    over = [s for s in steps if s.past_saturation]
    if not over:
        top = max(steps, key=lambda s: s.rate)
        raise FitError(
            f"too little load to fit a bend: the highest step ({top.rate:g} req/s, "
            f"{top.recording} seconds {top.first}-{top.last}) had "
            f"{top.error_share:.1%} errors and p99 {top.p99_ms or 0:.0f} ms; record a run past "
            "the instance's capacity: `loadwatch find-capacity` (it raises the rate until "
            "errors start) or a profile whose rate is above it")
    sources: dict[str, dict[str, Any]] = {}
    # Low load: the calmest clean step (smallest p99) below half the capacity. The lowest
    # rate is often the run's first seconds, whose stalls (a cold client, a throttled
    # server) would give every modelled request their tail.
    half = 0.5 * float(np.median([s.ok_rps for s in over]))
    calm = [s for s in clean if s.rate <= half] or clean
    low = min(calm, key=lambda s: (s.p99_ms if s.p99_ms is not None else float("inf"), s.rate))

    def source(name: str, steps_used: Sequence[Step], how: str) -> None:
        sources[name] = {"recording": ", ".join(sorted({s.recording for s in steps_used})),
                         "seconds": [[s.first, s.last] for s in steps_used], "how": how}

    assert low.service_mean_ms is not None
    service = low.service_mean_ms
    source("service_time_ms", [low], f"mean client service time (ok) at {low.rate:g} req/s")
    jitter = low.service_std_ms or 0.0
    source("service_jitter_ms", [low], f"its standard deviation at {low.rate:g} req/s")
    source("service_quantiles_ms", [low], f"its percentiles at {low.rate:g} req/s: service "
                                          "times are drawn from them")
    if low.model_latency_ms is not None:
        model = min(low.model_latency_ms, service)
        source("model_latency_ms", [low], f"ModelLatency Average at {low.rate:g} req/s")
    else:
        model = service
        source("model_latency_ms", [low], "no ModelLatency datapoints: the client service "
                                          "time (the overhead is taken as 0)")
    capacity = float(np.median([s.ok_rps for s in over]))
    source("capacity_rps", over, "median successful rate of the steps past saturation (more "
                                 f"than {OVERLOADED_SHARE:.0%} errors, or under "
                                 f"{SHORT_SHARE:.0%} of the offered rate served)")
    workers = max(1, round(capacity * model / 1000.0))
    source("workers", [*over, low], "capacity x mean ModelLatency (Little's law)")
    first = recordings[0]
    # Requests the client did not send (its in-flight cap) say nothing of the server's queue:
    # the virtual run applies the cap itself.
    turned_away = [s for s in over
                   if s.turned_away_share > OVERLOADED_SHARE and s.p50_ms is not None]
    if turned_away:
        # Past saturation the queue stays full: most requests wait for all of it.
        full = float(np.median([s.p50_ms for s in turned_away]))
        queue = max(0, round((full - service) / 1000.0 * capacity))
        source("queue_bound", turned_away, f"(p50 past saturation {full:.0f} ms - service "
                                           "time) x capacity")
    else:
        load = first.header.meta.get("load") if isinstance(first.header.meta, dict) else None
        timeout = float((load or {}).get("timeout") or 30.0)
        queue = max(1, round(capacity * timeout))
        source("queue_bound", over, "no step past saturation turned requests away: the queue "
                                    f"has no bound of its own, the client's {timeout:g} s "
                                    "timeout bounds the wait (capacity x timeout)")
    twin = Twin(
        instance_type=str((first.header.meta.get("aws") or {}).get("instance_type")
                          or "unknown"),
        service_time_ms=service, service_jitter_ms=jitter, model_latency_ms=model,
        workers=workers, capacity_rps=capacity, queue_bound=queue,
        provisioning_delay_s=FAST.provisioning_delay_s,
        service_quantiles_ms=low.service_quantiles_ms,
        publication_delay_s=FAST.publication_delay_s, period_s=FAST.period_s,
        sources=sources)
    sources["instance_type"] = {"recording": str(first.path), "how": "the header's aws section"}
    stretch = fit_stretches(recordings, workers)
    twin.stretches = stretch.stretches
    if stretch.stretches is None:
        twin.notes.append(f"one capacity: {stretch.how}")
    else:
        where = {"recording": ", ".join(sorted({path for path, _, _ in stretch.spans})),
                 "seconds": [[first, last] for _, first, last in stretch.spans],
                 "how": stretch.how}
        for name in ("fast_capacity_rps", "slow_capacity_rps", "fast_stretch_s",
                     "slow_stretch_s"):
            # A copy each: a shared list would be written as a YAML alias (&id001/*id001).
            sources[name] = {**where, "seconds": [list(span) for span in where["seconds"]]}
    _period_and_delay(recordings, twin)
    _provisioning(recordings, twin)
    twin.steps = [_compare(twin, s, first) for s in sorted(steps, key=lambda s: s.rate)]
    return twin


def _period_and_delay(recordings: Sequence[Recording], twin: Twin) -> None:
    periods: Counter[int] = Counter()
    delays: list[tuple[float, str, int]] = []
    for recording in recordings:
        latest = 0.0
        for record in recording.records:
            if isinstance(record, Tick):
                latest = max(latest, record.second + 1.0)
            elif isinstance(record, Datapoint) and record.namespace == "AWS/SageMaker" \
                    and not record.revised and record.metric == "Invocations":
                periods[record.period] += 1
                seen = recording.header.t + latest
                delays.append((seen - (record.t + record.period), str(recording.path),
                               int(latest)))
    if periods:
        twin.period_s = float(periods.most_common(1)[0][0])
        twin.sources["period_s"] = {"recording": ", ".join(str(r.path) for r in recordings),
                                    "how": "the Invocations datapoints' period"}
    else:
        twin.sources["period_s"] = {"how": "no datapoints: the sandbox's default"}
    if delays:
        # A datapoint written between the ticks of seconds k and k + 1 arrived in [k + 1,
        # k + 2): each estimate is up to a second early, plus however long the poller waited.
        # The smallest is thus the delay less up to a second: the middle of that second.
        delay, path, second = min(delays)
        twin.publication_delay_s = max(round(delay + 0.5, 1), 0.0)
        twin.sources["publication_delay_s"] = {
            "recording": path, "seconds": [second, second],
            "how": f"the earliest of {len(delays)} Invocations datapoints to reach the "
                   "recording after its period ended, + 0.5 s (arrival is known to the "
                   "second: +-0.5 s)"}
    else:
        twin.sources["publication_delay_s"] = {"how": "no datapoints: the sandbox's default"}


def _provisioning(recordings: Sequence[Recording], twin: Twin) -> None:
    found: list[tuple[float, str, list[int]]] = []
    for recording in recordings:
        starts = sorted(r.t for r in recording.records if isinstance(r, ScalingActivity)
                        and "Setting desired instance count" in r.description)
        states = [r for r in recording.records if isinstance(r, EndpointState) and r.variants]
        for start in starts:
            before = [s for s in states if s.t <= start]
            if not before:
                continue
            count = before[-1].variants[0].get("current", 0)
            index = next((i for i, s in enumerate(states) if s.t > start
                          and s.variants[0].get("current", 0) > count), None)
            if index is not None:
                # It rose between the last poll that did not see it and the first that did.
                risen, unseen = states[index], max(states[index - 1].t, start)
                found.append(((unseen + risen.t) / 2 - start, str(recording.path),
                              [round(start - recording.header.t), round(risen.elapsed)]))
    if found:
        # The endpoint is polled: each rise is known to half a poll interval. The smallest.
        delay, path, seconds = min(found)
        twin.provisioning_delay_s = round(delay, 1)
        twin.sources["provisioning_delay_s"] = {
            "recording": path, "seconds": seconds,
            "how": f"the quickest of {len(found)} scale-outs from its start to the endpoint's "
                   "instance count rising, midway between the polls before and after it "
                   "(+- half the endpoint's poll interval)"}
        return
    twin.sources["provisioning_delay_s"] = {
        "how": f"not measured (no scale-out recorded): the sandbox's {FAST.provisioning_delay_s:g}"
               " s; AWS takes minutes. Fit it from a run that scales out (a profile with "
               "scaling enabled)"}
    twin.notes.append("provisioning_delay_s was not measured: add a recording with a scale-out")


def _modelled(twin: Twin, step: Step, recording: Recording, seed: int) -> dict[str, Any]:
    """The step's rate run on the twin (one instance, no scaling) for its settling and judged
    seconds; p50, p99 and the error share of the judged seconds, as the step was measured."""
    seconds = step.last - step.first + 1 + step.settled
    load = recording.header.meta.get("load") or {}
    traffic = replace(constant_traffic(step.rate, seconds),
                      poisson=load.get("arrivals") == "poisson",
                      max_in_flight=client_in_flight_cap(load))
    result = VirtualRun(twin, traffic, None, seed=seed).run(latency_from=step.settled)
    sent = int(result.sent[step.settled:].sum())
    failed = int(result.failed[step.settled:].sum())
    return {"p50_ms": _round(result.percentile_ms(50)),
            "p99_ms": _round(result.percentile_ms(99)),
            "error_share": round(failed / sent, 4) if sent else 0.0}


def _compare(twin: Twin, step: Step, recording: Recording) -> dict[str, Any]:
    """The step measured, and the same rate run on the twin (one instance, no scaling)."""
    return {
        "recording": step.recording, "seconds": step.seconds, "rate": round(step.rate, 2),
        "measured": {"p50_ms": _round(step.p50_ms), "p99_ms": _round(step.p99_ms),
                     "error_share": round(step.error_share, 4)},
        "modelled": _modelled(twin, step, recording, 0),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def latency_summary(twin: Twin) -> str:
    """One line per step: measured vs modelled (for the command's output)."""
    lines = []
    for step in twin.steps:
        m, s = step["measured"], step["modelled"]
        lines.append(f"  {step['rate']:>8g} req/s  p50 {m['p50_ms']} vs {s['p50_ms']} ms  "
                     f"p99 {m['p99_ms']} vs {s['p99_ms']} ms  errors "
                     f"{m['error_share']:.1%} vs {s['error_share']:.1%}")
    return "\n".join(lines)

"""`--realistic` keeps ConcurrentRequestsPerModel at AWS's 10 s resolution while the standard
metrics are per minute; each scaling policy is evaluated on its own metric's periods."""

from __future__ import annotations

import json

from sandbox.autoscaler import CONCURRENCY_METRIC, PREDEFINED_METRIC
from sandbox.config import FAST, INSTANCE_PROFILES, REALISTIC, SandboxConfig, Timings
from sandbox.endpoint import CONCURRENCY_METRIC as CONCURRENCY_SERIES
from sandbox.endpoint import INSTANCE_NAMESPACE, SAGEMAKER_NAMESPACE
from sandbox.metricstore import Datapoint, series_key
from sandbox.model import IrisModel
from sandbox.simulation import Simulation
from tests.sandbox.conftest import RESOURCE_ID

G5 = INSTANCE_PROFILES["ml.g5.2xlarge"]
START = 1_000_020.0  # twenty seconds into a minute


def simulation(timings: Timings, now: list[float]) -> Simulation:
    return Simulation(SandboxConfig(profile=G5, timings=timings, seed=1), IrisModel(),
                      now=now[0], wall=lambda: now[0])


def test_the_concurrency_period_is_10_s_in_both_presets():
    assert (REALISTIC.period_s, REALISTIC.concurrency_period_s) == (60.0, 10.0)
    assert FAST.concurrency_period_s == 10.0
    # A period 10 s does not divide (or one finer than 10 s) is used for both.
    assert Timings(period_s=15).concurrency_period_s == 15
    assert Timings(period_s=1).concurrency_period_s == 1


def test_realistic_publishes_concurrency_every_10_s_and_the_rest_every_minute():
    now = [START]
    sim = simulation(REALISTIC, now)
    while now[0] < START + 240:
        now[0] += 5
        sim.step(now[0])
    dims = sim.dimensions
    concurrency = sim.store.query(series_key(SAGEMAKER_NAMESPACE, CONCURRENCY_SERIES, dims),
                                  START, now[0], 10, "Average", now[0])
    cpu = sim.store.query(series_key(INSTANCE_NAMESPACE, "CPUUtilization", dims),
                          START, now[0], 10, "Average", now[0])
    starts = [t for t, _ in concurrency]
    # Visible once their period ended plus the 60 s publication delay.
    assert starts == list(range(int(START), int(now[0]) - 70 + 1, 10))
    assert len(starts) >= 16 and all(v == 0.0 for _, v in concurrency)  # idle instance
    assert {t % 60 for t, _ in cpu} == {0} and len(cpu) >= 2  # still one a minute
    # Asked for per minute, the six 10 s samples merge into the minute's Average.
    minute = sim.store.query(series_key(SAGEMAKER_NAMESPACE, CONCURRENCY_SERIES, dims),
                             START, now[0], 60, "SampleCount", now[0])
    assert [v for t, v in minute if t > START] == [6.0] * len([t for t, _ in minute if t > START])


def put(sim: Simulation, name: str, start: int, value: float) -> None:
    namespace = SAGEMAKER_NAMESPACE
    sim.store.put(series_key(namespace, name, sim.dimensions), start,
                  Datapoint.of_values({value: 1}), start + 10 + 60)


def test_realistic_concurrency_scales_out_on_three_10_s_datapoints():
    now = [START]
    sim = simulation(REALISTIC, now)
    sim.autoscaler.register(RESOURCE_ID, now[0], 1, 4)
    sim.autoscaler.put_policy(RESOURCE_ID, "concurrency", json.loads(json.dumps({
        "TargetValue": 2.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": CONCURRENCY_METRIC}})),
        now[0], sim.dimensions)
    first = int(START // 10 * 10) + 10
    for start in range(first, first + 300, 10):  # busy from the next 10 s period on
        put(sim, CONCURRENCY_SERIES, start, 100.0)
    scaled_at = None
    while now[0] < START + 300 and scaled_at is None:
        now[0] += 1
        sim.step(now[0])
        if sim.endpoint.desired > 1:
            scaled_at = now[0] - first
    # The third busy 10 s period ends at +30 s and is visible 60 s later: out at +90 s, where
    # one-minute datapoints would have taken 3 minutes and the delay (+240 s).
    assert scaled_at is not None and 90 <= scaled_at <= 100


def test_a_standard_policy_is_evaluated_once_a_minute_though_alarms_tick_every_10_s():
    now = [START]
    sim = simulation(REALISTIC, now)
    sim.autoscaler.register(RESOURCE_ID, now[0], 1, 4)
    sim.autoscaler.put_policy(RESOURCE_ID, "invocations", {
        "TargetValue": 100.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": PREDEFINED_METRIC}},
        now[0], sim.dimensions)
    asked: list[tuple[int, int | None]] = []
    metric = sim.metric

    def spy(spec, last_period_start, count, at, period=None):  # type: ignore[no-untyped-def]
        asked.append((last_period_start, period))
        return metric(spec, last_period_start, count, at, period)

    sim.metric = spy  # type: ignore[method-assign]
    while now[0] < START + 300:
        now[0] += 5
        sim.step(now[0])
    assert asked and all(period == 60 and start % 60 == 0 for start, period in asked)
    assert [start for start, _ in asked] == sorted(set(start for start, _ in asked))

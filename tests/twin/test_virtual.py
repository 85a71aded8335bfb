"""The virtual-time run: the sandbox's autoscaler on a virtual clock, its records, determinism."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from driver.profile import load_profile
from metrics.analysis import analyze
from metrics.recording import RecordingWriter, read_recording
from metrics.records import (
    HTTP_5XX,
    OK,
    Datapoint,
    EndpointState,
    Footer,
    Header,
    ScalingActivity,
    Tick,
    to_dict,
)
from sandbox.config import SandboxConfig
from twin.model import ScalingPolicy, Twin
from twin.virtual import (
    Traffic,
    VirtualRun,
    constant_traffic,
    traffic_from_profile,
    traffic_from_recording,
)
from twin.virtual.serving import ServingModel, serve_second

ROOT = Path(__file__).resolve().parents[2]
TWIN = Twin.from_sandbox(SandboxConfig(), overhead_ms=1.0)
AFTER = ScalingPolicy("InvocationsPerInstance", 15000, 1, 4, 30, 60)


@pytest.fixture(scope="module")
def after_records() -> list:
    traffic = traffic_from_profile(load_profile(ROOT / "profiles/sandbox-after.yml"))
    return VirtualRun(TWIN, traffic, AFTER, seed=7).run(records=True).records


def test_same_seed_same_records(after_records: list) -> None:
    traffic = traffic_from_profile(load_profile(ROOT / "profiles/sandbox-after.yml"))
    again = VirtualRun(TWIN, traffic, AFTER, seed=7).run(records=True).records
    # Activity ids and alarm names are uuid4 in the sandbox, as on AWS: all else is equal.
    assert _lines(again) == _lines(after_records)
    other = VirtualRun(TWIN, traffic, AFTER, seed=8).run(records=True).records
    assert [r.latency for r in other if isinstance(r, Tick)] != \
        [r.latency for r in after_records if isinstance(r, Tick)]


def _lines(records: list) -> list[str]:
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    return [uuid.sub("ID", json.dumps(to_dict(r), sort_keys=True)) for r in records]


def test_a_virtual_session_is_a_recording(after_records: list, tmp_path: Path) -> None:
    header = after_records[0]
    assert isinstance(header, Header) and header.meta["simulated"]["seed"] == 7
    path = tmp_path / "twin.jsonl"
    with RecordingWriter(path, header) as writer:
        for record in after_records[1:]:
            writer.write(record)
    recording = read_recording(path)
    assert isinstance(recording.footer, Footer)
    ticks = [r for r in recording.records if isinstance(r, Tick)]
    assert sum(t.sent for t in ticks) == 187_500  # the profile's requests, all sent
    states = [r for r in recording.records if isinstance(r, EndpointState)]
    counts = [s.variants[0]["current"] for s in states]
    assert counts[0] == 1 and max(counts) >= 3  # the sandbox's autoscaler scaled it out
    assert any(isinstance(r, ScalingActivity) for r in recording.records)
    run = analyze(recording)
    assert run.figures(run.phases[2]).p99_ms < 500  # max load, scaled out


def test_without_a_policy_one_instance_saturates() -> None:
    traffic = constant_traffic(800, 60)
    result = VirtualRun(TWIN, traffic, None, seed=1).run()
    assert set(result.serving.tolist()) == {1}
    # One instance serves ~420 req/s: about half the requests are turned away with 503.
    share = result.failed.sum() / result.sent.sum()
    assert 0.4 < share < 0.55


def test_past_the_clients_in_flight_cap_requests_are_not_sent(tmp_path: Path) -> None:
    """A server that queues without bound, a client that keeps at most 300 in flight: the
    wait stops growing at the cap and the excess is not sent (not a 503 the endpoint
    counted), as a real worker's ``load.max_in_flight`` does."""
    unbounded = replace(TWIN, queue_bound=100_000)
    rate, cap = 1.2 * unbounded.capacity_rps, 300
    traffic = replace(constant_traffic(rate, 60), max_in_flight=cap)
    capped = VirtualRun(unbounded, traffic, None, seed=2).run(records=True)
    free = VirtualRun(unbounded, constant_traffic(rate, 60), None, seed=2).run()
    # The queue's wait: the cap less the busy workers, over the capacity (plus service).
    full_wait_ms = 1000 * (cap - unbounded.workers) / unbounded.capacity_rps
    assert full_wait_ms < capped.percentile_ms(99) < full_wait_ms + 30
    assert free.percentile_ms(99) > 10 * full_wait_ms  # without the cap the queue grows on
    assert free.failed.sum() == 0
    ticks = [r for r in capped.records if isinstance(r, Tick)]
    not_sent = sum(t.not_sent for t in ticks)
    assert not_sent == capped.failed.sum()  # every failure is one not sent
    assert not_sent / capped.sent.sum() == pytest.approx(1 - 1 / 1.2, abs=0.03)
    assert sum(t.outcomes.get(OK, 0) for t in ticks) == capped.ok.sum()
    # (in flight at a second's end: the walk is fluid, a request or two either side)
    assert min(t.in_flight for t in ticks) >= 0
    assert max(t.in_flight for t in ticks) <= cap + 3
    assert not any(t.outcomes.get(HTTP_5XX) for t in ticks)
    five_xx = [r for r in capped.records if isinstance(r, Datapoint)
               and r.metric == "Invocation5XXErrors"]
    assert five_xx and all(d.value == 0 for d in five_xx)
    # Replayed, the recording's demand is what was due, not sent ones only.
    path = tmp_path / "capped.jsonl"
    with RecordingWriter(path, capped.records[0]) as writer:
        for record in capped.records[1:]:
            writer.write(record)
    replayed = traffic_from_recording(read_recording(path))
    assert replayed.requests == capped.sent.sum() == traffic.requests


def test_a_replayed_open_model_recording_brings_its_schedule_not_its_late_sends(
        tmp_path: Path) -> None:
    """A client that waited for connections sent late, in bursts shaped by the policy it ran
    under; another policy would not have made it wait. What was due is the ticks' rate."""
    traffic = constant_traffic(120, 30)
    records = VirtualRun(TWIN, traffic, None, seed=4).run(records=True).records
    lagged = []
    for record in records:  # seconds 10-19 send half late, caught up in second 20
        if isinstance(record, Tick) and 10 <= record.second <= 20:
            record = replace(record, sent=60 if record.second < 20 else 720)
        lagged.append(record)

    def replay(header: Header) -> Traffic:
        path = tmp_path / f"{header.meta['load'].get('mode', 'rate')}.jsonl"
        with RecordingWriter(path, header) as writer:
            for record in lagged[1:]:
                writer.write(record)
        return traffic_from_recording(read_recording(path))

    header = lagged[0]
    assert replay(header).counts.tolist() == traffic.counts.tolist()
    # A closed-loop run's ticks carry no rate to replay: its sends are the demand.
    closed = replace(header, meta={**header.meta, "load": {**header.meta["load"],
                                                           "mode": "concurrency"}})
    assert replay(closed).counts[10:21].tolist() == [60] * 10 + [720]


def test_the_latency_histogram_can_leave_out_the_first_seconds() -> None:
    """A step's settling seconds are left out of the twin's p50/p99, as from the measured."""
    burst = constant_traffic(100, 20)
    burst.counts[:3] = 600  # a queue builds in the first seconds and drains by second 10
    whole = VirtualRun(TWIN, burst, None, seed=3).run()
    judged = VirtualRun(TWIN, burst, None, seed=3).run(latency_from=10)
    assert whole.latency.get_total_count() == int(whole.ok.sum())
    assert judged.latency.get_total_count() == int(judged.ok[10:].sum())
    assert whole.percentile_ms(99) > 10 * judged.percentile_ms(99)
    assert np.nanmax(judged.p99_ms[10:]) == pytest.approx(judged.percentile_ms(99), rel=0.05)


def test_serving_below_capacity_has_no_wait_and_above_it_a_bounded_queue() -> None:
    model = ServingModel(capacity_rps=100, queue_bound=10, model_ms=10, jitter_ms=0,
                         overhead_ms=1, timeout_s=30)
    rng = np.random.default_rng(0)
    calm = serve_second(model, 0.0, (np.arange(50) + 0.5) / 50, 1, rng)
    assert not calm.rejected.any() and np.allclose(calm.latency_s, 0.011)
    busy = serve_second(model, 0.0, (np.arange(200) + 0.5) / 200, 1, rng)
    # 200 arrive, about 100 drain and 10 wait: the rest are turned away.
    assert 85 <= busy.rejected.sum() <= 95
    assert busy.backlog == pytest.approx(10, abs=1)
    assert busy.latency_s.max() == pytest.approx(0.011 + 10 / 100, abs=0.005)


def _queue_by_events(rate: float, workers: int, service_s: float, n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Time in the system of ``n`` Poisson arrivals at ``workers`` FIFO servers, event by event."""
    import heapq

    free = [0.0] * workers
    at = np.cumsum(rng.exponential(1.0 / rate, n))
    spent = np.empty(n)
    for i, t in enumerate(at):
        start = max(t, heapq.heappop(free))
        heapq.heappush(free, start + service_s)
        spent[i] = start + service_s - t
    return spent


@pytest.mark.parametrize("load", [0.7, 0.85])
def test_a_busy_pool_queues_as_a_queue_of_its_workers_does(load: float) -> None:
    """At 70 and 85 % of an instance's 4 workers with Poisson arrivals, requests wait for a
    worker though the pool drains faster than they come: the model's p50, p99 and mean agree
    with an event-by-event M/D/4 queue within 15 % (the wait's tail is approximated)."""
    model = ServingModel(capacity_rps=400, queue_bound=100, model_ms=10, jitter_ms=0,
                         overhead_ms=0, timeout_s=30, workers=4)
    rate = 400 * load
    rng = np.random.default_rng(5)
    spent, backlog = [], 0.0
    for _ in range(200):
        second = serve_second(model, backlog, np.sort(rng.random(rng.poisson(rate))), 1, rng,
                              poisson=True, offered=rate)
        spent.append(second.model_s)
        backlog = second.backlog
    modelled = np.concatenate(spent)
    exact = _queue_by_events(rate, 4, 0.010, len(modelled), np.random.default_rng(6))
    for q in (50, 99):
        assert np.percentile(modelled, q) == pytest.approx(np.percentile(exact, q), rel=0.15)
    assert modelled.mean() == pytest.approx(exact.mean(), rel=0.15)
    # The same load as an even stream on one instance never waits.
    even = serve_second(model, 0.0, (np.arange(int(rate)) + 0.5) / int(rate), 1, rng)
    assert np.allclose(even.model_s, 0.010)

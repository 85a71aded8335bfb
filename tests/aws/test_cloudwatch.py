"""The CloudWatch poller: one GetMetricData per poll, incremental, unit-converted, backing off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from metrics.cloudwatch import METRICS, CloudWatchPoller, poll_cost_per_hour
from metrics.records import Datapoint, Event
from tests.aws.conftest import ENDPOINT, REGION, VARIANT

NOW = datetime(2024, 5, 1, 12, 10, 30, tzinfo=UTC)
DIMS = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}]


def minute(n: int) -> datetime:
    """The start of the n-th minute before NOW's minute."""
    return NOW.replace(second=0) - timedelta(minutes=n)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


def poller(client, records, clock=None, **kwargs) -> CloudWatchPoller:
    return CloudWatchPoller(client, ENDPOINT, VARIANT, records.append, period=60,
                            clock=clock or Clock(), **kwargs)


def result(query_id: str, points: list[tuple[datetime, float]], status: str = "Complete"):
    return {"Id": query_id, "Label": query_id, "Timestamps": [p[0] for p in points],
            "Values": [p[1] for p in points], "StatusCode": status}


@pytest.fixture
def stubbed(aws_env):
    client = boto3.client("cloudwatch", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_one_request_asks_for_every_series(stubbed):
    client, stubber = stubbed
    records: list = []
    p = poller(client, records, lookback=300)
    stubber.add_response("get_metric_data", {"MetricDataResults": []}, {
        "MetricDataQueries": p.queries(), "StartTime": minute(5).timestamp(),
        # On the finest period asked for: ConcurrentRequestsPerModel's 10 s.
        "EndTime": (minute(0) + timedelta(seconds=30)).timestamp(),
        "ScanBy": "TimestampAscending"})
    p.fetch(*p.window(Clock()()))
    queries = p.queries()
    assert len(queries) == len(METRICS) == 12
    asked = {(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
              q["MetricStat"]["Stat"]) for q in queries}
    assert ("AWS/SageMaker", "ModelLatency", "p99") in asked
    assert ("AWS/SageMaker", "OverheadLatency", "p99") in asked
    assert ("/aws/sagemaker/Endpoints", "MemoryUtilization", "Average") in asked
    assert all(q["MetricStat"]["Metric"]["Dimensions"] == DIMS for q in queries)
    periods = {q["Id"]: q["MetricStat"]["Period"] for q in queries}
    # ConcurrentRequestsPerModel is high resolution: asked for every 10 s, the rest per minute.
    assert periods.pop("concurrency") == 10
    assert set(periods.values()) == {60}


async def test_the_high_resolution_series_comes_per_10_s_and_the_open_minute_is_dropped(
        stubbed):
    client, stubber = stubbed
    records: list = []
    p = poller(client, records)  # NOW is 12:10:30; the open minute starts at 12:10:00
    ten = [(minute(0) + timedelta(seconds=s), 3.0 + s / 10) for s in (0, 10, 20)]
    stubber.add_response("get_metric_data", {"MetricDataResults": [
        result("concurrency", [*ten, (minute(0) + timedelta(seconds=30), 9.0)]),
        result("invocations", [(minute(1), 600.0), (minute(0), 200.0)]),
    ]}, {"MetricDataQueries": ANY, "StartTime": ANY,
         "EndTime": (minute(0) + timedelta(seconds=30)).timestamp(), "ScanBy": ANY})
    await p.poll()
    got = [(d.metric, d.t - minute(0).timestamp(), d.value, d.period) for d in records]
    assert ("Invocations", -60, 600.0, 60) in got
    assert [g for g in got if g[0] == "ConcurrentRequestsPerModel"] == [
        ("ConcurrentRequestsPerModel", s, 3.0 + s / 10, 10) for s in (0, 10, 20)]
    # Neither the open minute's Invocations nor the open 10 s period made it through.
    assert len(got) == 4


async def test_percentiles_come_back_in_milliseconds(stubbed):
    client, stubber = stubbed
    records: list = []
    p = poller(client, records)
    stubber.add_response("get_metric_data", {"MetricDataResults": [
        result("model_latency_p50", [(minute(2), 8200.0), (minute(1), 9100.0)]),
        result("model_latency_p99", [(minute(1), 310_000.0)]),
        result("overhead_latency_p99", [(minute(1), 2500.0)]),
        result("invocations", [(minute(1), 24_000.0)]),
        result("cpu", [(minute(1), 181.5)]),
    ]}, {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY})
    fresh = await p.poll()
    assert fresh == records
    by_key = {(d.metric, d.stat, d.t): d for d in fresh}
    p99 = by_key[("ModelLatency", "p99", minute(1).timestamp())]
    assert (p99.value, p99.unit, p99.period, p99.revised) == (310.0, "ms", 60, False)
    assert by_key[("ModelLatency", "p50", minute(2).timestamp())].value == pytest.approx(8.2)
    assert by_key[("OverheadLatency", "p99", minute(1).timestamp())].value == 2.5
    invocations = by_key[("Invocations", "Sum", minute(1).timestamp())]
    assert (invocations.value, invocations.unit) == (24_000.0, "count")
    cpu = by_key[("CPUUtilization", "Average", minute(1).timestamp())]
    assert (cpu.namespace, cpu.value, cpu.unit) == ("/aws/sagemaker/Endpoints", 181.5, "percent")
    assert [d.t for d in fresh] == sorted(d.t for d in fresh)


async def test_only_new_and_revised_datapoints_are_emitted(stubbed):
    client, stubber = stubbed
    records: list = []
    clock = Clock()
    p = poller(client, records, clock=clock)
    first = [result("invocations", [(minute(2), 100.0), (minute(1), 40.0)])]
    # A minute later: minute 1 was revised upward (late samples), minute 0 is new.
    second = [result("invocations", [(minute(2), 100.0), (minute(1), 60.0), (minute(0), 5.0)])]
    for results in (first, second, second):
        stubber.add_response("get_metric_data", {"MetricDataResults": results})
    await p.poll()
    clock.now += 60
    await p.poll()
    await p.poll()
    seen = [(d.t, d.value, d.revised) for d in records]
    assert seen == [
        (minute(2).timestamp(), 100.0, False),
        (minute(1).timestamp(), 40.0, False),
        (minute(1).timestamp(), 60.0, True),
        (minute(0).timestamp(), 5.0, False),
    ]


async def test_next_token_is_followed(stubbed):
    client, stubber = stubbed
    records: list = []
    p = poller(client, records)
    stubber.add_response("get_metric_data", {
        "MetricDataResults": [result("invocations", [(minute(3), 1.0)], "PartialData")],
        "NextToken": "page-2"})
    stubber.add_response("get_metric_data", {
        "MetricDataResults": [result("invocations", [(minute(2), 2.0)])]},
        {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY,
         "NextToken": "page-2"})
    await p.poll()
    assert [d.value for d in records] == [1.0, 2.0]
    assert p.requests == 2 and p.polls == 1


async def test_only_complete_periods_since_the_session_start_are_asked_for(stubbed):
    client, stubber = stubbed
    records: list = []
    started = NOW - timedelta(seconds=95)  # 12:08:55: the period from 12:08 on counts
    p = poller(client, records, since=started.timestamp())
    stubber.add_response("get_metric_data", {"MetricDataResults": []}, {
        "MetricDataQueries": ANY, "StartTime": minute(2).timestamp(),
        "EndTime": (minute(0) + timedelta(seconds=30)).timestamp(),
        "ScanBy": "TimestampAscending"})
    await p.poll()
    # Within the first period nothing is complete yet: no request at all.
    early = poller(client, records, clock=Clock(NOW.replace(second=0) + timedelta(seconds=5)),
                   since=(NOW.replace(second=0) + timedelta(seconds=1)).timestamp())
    assert await early.poll() == []
    assert early.requests == 0


class Sleeps:
    """Records the delays the poller asks for and stops it after ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.delays: list[float] = []
        self.limit = limit

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) >= self.limit:
            raise _Stop


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("code", "status", "event"), [
    ("Throttling", 400, "poll_throttled"),
    ("ThrottlingException", 400, "poll_throttled"),
    ("LimitExceededException", 400, "poll_failed"),  # a quota, not a rate
    ("AccessDeniedException", 403, "poll_failed"),
    ("InternalServiceError", 500, "poll_failed"),
    ("InvalidParameterValue", 400, "poll_failed"),
])
async def test_failures_back_off_and_become_one_event(stubbed, code, status, event):
    client, stubber = stubbed
    records: list = []
    sleeps = Sleeps(limit=5)
    p = poller(client, records, interval=60, max_backoff=300, sleep=sleeps, jitter=0)
    for _ in range(3):
        stubber.add_client_error("get_metric_data", service_error_code=code,
                                 service_message="Rate exceeded", http_status_code=status)
    stubber.add_response("get_metric_data", {"MetricDataResults": [
        result("invocations", [(minute(1), 7.0)])]})
    stubber.add_response("get_metric_data", {"MetricDataResults": []})
    with pytest.raises(_Stop):
        await p.run()
    assert sleeps.delays == [120, 240, 300, 60, 60]
    events = [r for r in records if isinstance(r, Event)]
    assert [e.name for e in events] == [event, "poll_recovered"]
    assert events[0].data["code"] == code and code in events[0].message
    assert [r.value for r in records if isinstance(r, Datapoint)] == [7.0]


def test_polls_drift_in_phase_around_the_interval() -> None:
    """Between good polls the wait is the interval give or take a quarter of it: the mean (the
    cost) holds, and the polls' phase within a period spreads over all of it, so some poll
    comes soon after every moment a datapoint may become visible."""
    import random

    draws = random.Random(7)
    p = CloudWatchPoller(None, ENDPOINT, VARIANT, lambda r: None, period=10,
                         uniform=draws.random)
    delays = [p.next_delay() for _ in range(400)]
    assert min(delays) >= 7.5 and max(delays) <= 12.5
    assert sum(delays) / len(delays) == pytest.approx(10.0, rel=0.02)
    at = 0.0
    phases = []
    for delay in delays:
        at += delay
        phases.append(at % 10.0)
    assert sum(phase < 1.0 for phase in phases) >= 20  # uniform would give 40 of 400
    assert sum(phase > 9.0 for phase in phases) >= 20


async def test_a_forbidden_series_is_reported_once(stubbed):
    client, stubber = stubbed
    records: list = []
    p = poller(client, records)
    denied = {"Id": "memory", "Label": "memory", "Timestamps": [], "Values": [],
              "StatusCode": "Forbidden", "Messages": [{"Code": "Forbidden", "Value": "denied"}]}
    for _ in range(2):
        stubber.add_response("get_metric_data", {"MetricDataResults": [denied]})
    await p.poll()
    await p.poll()
    assert [r.name for r in records] == ["metric_unavailable"]


async def test_basic_statistics_from_moto(moto_aws):
    """Against moto's CloudWatch (which speaks the CBOR protocol botocore now uses)."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    start = now.replace(second=0) - timedelta(minutes=3)
    for i, (count, latency_us) in enumerate([(1200, 8000.0), (1500, 9000.0), (1800, 250000.0)]):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "Invocations", "Dimensions": DIMS, "Value": count,
             "Timestamp": start + timedelta(minutes=i, seconds=10), "Unit": "None"},
            {"MetricName": "ModelLatency", "Dimensions": DIMS, "Value": latency_us,
             "Timestamp": start + timedelta(minutes=i, seconds=10), "Unit": "Microseconds"},
            {"MetricName": "InvocationsPerInstance", "Dimensions": DIMS, "Value": count,
             "Timestamp": start + timedelta(minutes=i, seconds=10), "Unit": "None"},
        ])
    records: list = []
    basic = tuple(m for m in METRICS if not m.stat.startswith("p"))
    p = CloudWatchPoller(cloudwatch, ENDPOINT, VARIANT, records.append, period=60,
                         clock=Clock(now), metrics=basic)
    await p.poll()
    series = {(d.metric, d.stat): [] for d in records}
    for d in records:
        series[(d.metric, d.stat)].append((d.t - start.timestamp(), d.value, d.unit))
    assert series[("Invocations", "Sum")] == [(0, 1200, "count"), (60, 1500, "count"),
                                              (120, 1800, "count")]
    assert series[("ModelLatency", "Average")] == [(0, 8.0, "ms"), (60, 9.0, "ms"),
                                                   (120, 250.0, "ms")]
    assert await p.poll() == []  # nothing new, nothing emitted


def test_cost_estimate():
    # 12 metrics once a minute: 720 metrics an hour at $0.01 per 1,000.
    assert poll_cost_per_hour(60) == pytest.approx(0.0072)
    assert poll_cost_per_hour(10) == pytest.approx(0.0432)


def test_client_errors_are_not_swallowed_by_poll(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("get_metric_data", service_error_code="AccessDeniedException",
                             http_status_code=403)
    p = poller(client, [])
    with pytest.raises(ClientError):
        p.fetch(*p.window(Clock()()))

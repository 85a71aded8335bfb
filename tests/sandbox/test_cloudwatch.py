"""GetMetricData and ListMetrics through real botocore clients, over JSON 1.0 and CBOR."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.metricstore import Datapoint, series_key
from sandbox.server import SandboxThread
from tests.sandbox.conftest import (
    SMALL,
    MovableClock,
    align,
    client,
    cloudwatch_session,
    endpoint_dimensions,
    step,
)

BLOG_ROW = b"5,3.5,1.3,0.3"


@pytest.fixture(params=["json", "smithy-rpc-v2-cbor"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def small(start_sandbox: Callable[..., SandboxThread]) -> SandboxThread:
    """One 50 RPS instance: 20 ms service time, so latency percentiles are easy to bound."""
    return start_sandbox(profile=SMALL)


def cloudwatch(handle: SandboxThread, tmp_path: Path, protocol: str) -> Any:
    cw = client(handle, "cloudwatch", session=cloudwatch_session(tmp_path, protocol))
    assert cw.meta.service_model.protocol == protocol
    return cw


def query(query_id: str, name: str, stat: str, handle: SandboxThread, period: int = 1,
          namespace: str = "AWS/SageMaker", **extra: Any) -> dict[str, Any]:
    return {"Id": query_id, "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": name,
                   "Dimensions": endpoint_dimensions(handle)},
        "Period": period, "Stat": stat, **extra}}


def invoke(handle: SandboxThread, count: int) -> None:
    runtime = client(handle, "sagemaker-runtime")
    for _ in range(count):
        runtime.invoke_endpoint(EndpointName=handle.endpoint_name, Body=BLOG_ROW,
                                ContentType="text/csv")


def window(clock: MovableClock) -> dict[str, float]:
    return {"StartTime": clock() - 600, "EndTime": clock() + 600}


def test_statistics_from_served_requests(small: SandboxThread, clock: MovableClock,
                                         tmp_path: Path, protocol: str) -> None:
    invoke(small, 12)
    step(small, clock, 2.0)
    cw = cloudwatch(small, tmp_path, protocol)
    queries = [query(f"q{i}", name, stat, small, period=600) for i, (name, stat) in enumerate([
        ("Invocations", "Sum"), ("ModelLatency", "SampleCount"), ("ModelLatency", "p50"),
        ("ModelLatency", "p99"), ("ModelLatency", "Maximum"), ("ModelLatency", "p100"),
        ("ModelLatency", "Minimum"), ("ModelLatency", "Average"), ("OverheadLatency", "p99.9"),
        ("InvocationsPerInstance", "Sum"), ("Invocation5XXErrors", "Average")])]
    response = cw.get_metric_data(MetricDataQueries=queries, **window(clock))
    values = {r["Id"]: r["Values"] for r in response["MetricDataResults"]}
    assert all(len(v) == 1 for v in values.values()), values
    v = {key: value[0] for key, value in values.items()}
    assert v["q0"] == 12 and v["q1"] == 12 and v["q9"] == 12
    # 20 ms of simulated service (jitter 1 ms) on an idle instance, in microseconds.
    assert 15_000 <= v["q6"] <= v["q2"] <= v["q3"] <= v["q4"] == v["q5"] < 200_000
    assert v["q6"] <= v["q7"] <= v["q4"]
    assert 0 < v["q8"] < 100_000
    assert v["q10"] == 0.0
    for result in response["MetricDataResults"]:
        assert result["StatusCode"] == "Complete"
        assert result["Timestamps"][0].timestamp() % 600 == 0


def test_datapoints_appear_after_the_publication_delay(sandbox: SandboxThread,
                                                       clock: MovableClock, tmp_path: Path,
                                                       protocol: str) -> None:
    cw = cloudwatch(sandbox, tmp_path, protocol)
    align(clock)
    invoke(sandbox, 3)
    request = {"MetricDataQueries": [query("calls", "Invocations", "Sum", sandbox)],
               **window(clock)}
    assert cw.get_metric_data(**request)["MetricDataResults"][0]["Values"] == []
    # The 1 s period has ended, but 0.5 s of publication delay has not passed yet.
    period_end = (int(clock()) + 1)
    clock.advance(period_end - clock() + 0.1)
    sandbox.call(lambda: sandbox.server.simulation.step(clock()))
    assert cw.get_metric_data(**request)["MetricDataResults"][0]["Values"] == []
    step(sandbox, clock, 0.5)
    assert cw.get_metric_data(**request)["MetricDataResults"][0]["Values"] == [3.0]


def _three_periods(handle: SandboxThread, clock: MovableClock) -> None:
    for count in (1, 2, 3):
        align(clock)
        invoke(handle, count)
        step(handle, clock, 1.0)
    step(handle, clock, 1.0)


def test_pagination_scan_order_and_label(sandbox: SandboxThread, clock: MovableClock,
                                         tmp_path: Path, protocol: str) -> None:
    _three_periods(sandbox, clock)
    cw = cloudwatch(sandbox, tmp_path, protocol)
    queries = [query("calls", "Invocations", "Sum", sandbox),
               {**query("hidden", "Invocations", "SampleCount", sandbox), "ReturnData": False},
               {**query("perinstance", "InvocationsPerInstance", "Sum", sandbox),
                "Label": "per instance"}]
    full = cw.get_metric_data(MetricDataQueries=queries, ScanBy="TimestampAscending",
                              **window(clock))
    calls, per_instance = full["MetricDataResults"]
    assert calls["Values"] == per_instance["Values"] == [1.0, 2.0, 3.0]
    assert (calls["Label"], per_instance["Label"]) == ("Invocations", "per instance")
    stamps = [t.timestamp() for t in calls["Timestamps"]]
    assert stamps == sorted(stamps) and all(t == int(t) for t in stamps)
    newest_first = cw.get_metric_data(MetricDataQueries=queries, **window(clock))
    assert newest_first["MetricDataResults"][0]["Values"] == [3.0, 2.0, 1.0]

    first = cw.get_metric_data(MetricDataQueries=queries, ScanBy="TimestampAscending",
                               MaxDatapoints=4, **window(clock))
    assert [r["StatusCode"] for r in first["MetricDataResults"]] == ["Complete", "PartialData"]
    assert [len(r["Values"]) for r in first["MetricDataResults"]] == [3, 1]
    pages = cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, ScanBy="TimestampAscending", MaxDatapoints=4,
        **window(clock))
    joined: dict[str, list[float]] = {}
    for page in pages:
        for result in page["MetricDataResults"]:
            joined.setdefault(result["Id"], []).extend(result["Values"])
    assert joined == {"calls": [1.0, 2.0, 3.0], "perinstance": [1.0, 2.0, 3.0]}


def test_a_longer_period_aggregates(sandbox: SandboxThread, clock: MovableClock,
                                    tmp_path: Path, protocol: str) -> None:
    _three_periods(sandbox, clock)
    cw = cloudwatch(sandbox, tmp_path, protocol)
    response = cw.get_metric_data(
        MetricDataQueries=[query("calls", "Invocations", "Sum", sandbox, period=3600)],
        **window(clock))
    assert sum(response["MetricDataResults"][0]["Values"]) == 6.0
    for stamp in response["MetricDataResults"][0]["Timestamps"]:
        assert stamp.timestamp() % 3600 == 0


def test_instance_metrics(sandbox: SandboxThread, clock: MovableClock, tmp_path: Path,
                          protocol: str) -> None:
    invoke(sandbox, 5)
    step(sandbox, clock, 2.0)  # samples the instance for the period that just ended
    step(sandbox, clock, 1.0)  # ... and that sample is visible after the publication delay
    cw = cloudwatch(sandbox, tmp_path, protocol)
    namespace = "/aws/sagemaker/Endpoints"
    response = cw.get_metric_data(MetricDataQueries=[
        query("cpu", "CPUUtilization", "Maximum", sandbox, namespace=namespace),
        query("cpus", "CPUUtilization", "SampleCount", sandbox, namespace=namespace),
        query("memory", "MemoryUtilization", "Average", sandbox, namespace=namespace),
        query("disk", "DiskUtilization", "Average", sandbox, namespace=namespace,
              Unit="Percent"),
        query("wrongunit", "DiskUtilization", "Average", sandbox, namespace=namespace,
              Unit="Bytes"),
    ], **window(clock))
    values = {r["Id"]: r["Values"] for r in response["MetricDataResults"]}
    assert values["cpus"] and set(values["cpus"]) == {1.0}  # one instance, one sample a period
    assert all(0.0 <= cpu <= 400.0 for cpu in values["cpu"])  # 4 vCPUs
    assert any(cpu > 0 for cpu in values["cpu"])
    assert all(0 < m < 100 for m in values["memory"])
    assert values["disk"] and values["wrongunit"] == []


@pytest.mark.parametrize(("change", "code"), [
    ({"Expression": "m1 * 2"}, "InvalidParameterValue"),
    ({"MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations"},
                     "Period": 60, "Stat": "tm99"}}, "InvalidParameterValue"),
    ({"Id": "Upper"}, "InvalidParameterValue"),
])
def test_bad_queries(sandbox: SandboxThread, clock: MovableClock, tmp_path: Path,
                     protocol: str, change: dict[str, Any], code: str) -> None:
    cw = cloudwatch(sandbox, tmp_path, protocol)
    bad = {**query("calls", "Invocations", "Sum", sandbox), **change}
    if "Expression" in change:
        del bad["MetricStat"]
    with pytest.raises(ClientError) as caught:
        cw.get_metric_data(MetricDataQueries=[bad], **window(clock))
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_foreign_next_token_is_refused(sandbox: SandboxThread, clock: MovableClock,
                                         tmp_path: Path, protocol: str) -> None:
    cw = cloudwatch(sandbox, tmp_path, protocol)
    with pytest.raises(ClientError) as caught:
        cw.get_metric_data(MetricDataQueries=[query("calls", "Invocations", "Sum", sandbox)],
                           NextToken="bm90IGEgdG9rZW4=", **window(clock))
    assert caught.value.response["Error"]["Code"] == "InvalidNextToken"
    with pytest.raises(ClientError) as caught:
        cw.get_metric_data(MetricDataQueries=[query("calls", "Invocations", "Sum", sandbox)],
                           StartTime=clock(), EndTime=clock() - 60)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_list_metrics_filters_and_pages(sandbox: SandboxThread, clock: MovableClock,
                                        tmp_path: Path, protocol: str) -> None:
    invoke(sandbox, 1)
    step(sandbox, clock, 2.0)
    step(sandbox, clock, 1.0)  # the instance samples, too, are visible now
    cw = cloudwatch(sandbox, tmp_path, protocol)
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SageMaker")["Metrics"]}
    assert names == {"Invocations", "InvocationsPerInstance", "ModelLatency", "OverheadLatency",
                     "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors"}
    instance = cw.list_metrics(Namespace="/aws/sagemaker/Endpoints",
                               Dimensions=[{"Name": "EndpointName"}])["Metrics"]
    assert {m["MetricName"] for m in instance} == {"CPUUtilization", "MemoryUtilization",
                                                   "DiskUtilization"}
    assert cw.list_metrics(Dimensions=[{"Name": "EndpointName", "Value": "other"}])[
        "Metrics"] == []
    assert len(cw.list_metrics(RecentlyActive="PT3H")["Metrics"]) == 10

    def add_series() -> None:
        store = sandbox.server.simulation.store
        for i in range(600):
            store.put(series_key("Custom", f"m{i:03d}", []), 0, Datapoint.of_values({1.0: 1}),
                      0)
    sandbox.call(add_series)
    first = cw.list_metrics(Namespace="Custom")
    assert len(first["Metrics"]) == 500 and "NextToken" in first
    pages = cw.get_paginator("list_metrics").paginate(Namespace="Custom")
    listed = [m["MetricName"] for page in pages for m in page["Metrics"]]
    assert listed == [f"m{i:03d}" for i in range(600)]


def test_json_and_cbor_answer_alike(sandbox: SandboxThread, clock: MovableClock,
                                    tmp_path: Path) -> None:
    _three_periods(sandbox, clock)
    request = {"MetricDataQueries": [query("latency", "ModelLatency", "p90", sandbox)],
               **window(clock)}
    answers = [cloudwatch(sandbox, tmp_path, p).get_metric_data(**request)["MetricDataResults"]
               for p in ("json", "smithy-rpc-v2-cbor")]
    assert answers[0] == answers[1]
    assert len(answers[0][0]["Values"]) == 3
    assert time.time() - answers[0][0]["Timestamps"][0].timestamp() < 600

"""The metric store's statistics, aggregation and visibility, without a server."""

from __future__ import annotations

import random

import pytest
from hdrh.histogram import HdrHistogram

from sandbox.metricstore import (
    LATENCY_DIGITS,
    LATENCY_HIGHEST_US,
    LATENCY_LOWEST_US,
    Datapoint,
    LatencyRecorder,
    MetricStore,
    check_statistic,
    series_key,
)

KEY = series_key("AWS/SageMaker", "ModelLatency", [("VariantName", "v"), ("EndpointName", "e")])


def test_latency_percentiles_are_the_hdr_histograms_own() -> None:
    rng = random.Random(3)
    values = [int(rng.lognormvariate(9.2, 0.6)) + 1 for _ in range(5000)]
    recorder = LatencyRecorder()
    reference = HdrHistogram(LATENCY_LOWEST_US, LATENCY_HIGHEST_US, LATENCY_DIGITS)
    for value in values:
        recorder.record(value)
        reference.record_value(value)
    point = recorder.take()
    assert point is not None
    for percentile in (50, 90, 99, 99.9):
        expected = min(reference.get_value_at_percentile(percentile), max(values))
        assert point.statistic(f"p{percentile:g}") == expected
    assert point.statistic("SampleCount") == 5000
    assert point.statistic("Sum") == sum(values)
    assert point.statistic("Minimum") == min(values)
    assert point.statistic("Maximum") == max(values)
    assert point.statistic("p100") == max(values)
    assert point.statistic("Average") == pytest.approx(sum(values) / 5000)
    assert recorder.take() is None, "take() resets the recorder for the next period"


def test_exact_samples_give_exact_statistics() -> None:
    # Ten requests, three of which failed: the Average of an error metric is the error rate.
    point = Datapoint.of_values({1.0: 3, 0.0: 7})
    assert point.statistic("Sum") == 3
    assert point.statistic("Average") == pytest.approx(0.3)
    assert point.statistic("p50") == 0.0
    assert point.statistic("p80") == 1.0
    assert Datapoint().statistic("Sum") is None


@pytest.mark.parametrize("stat", ["Sum", "Average", "Minimum", "Maximum", "SampleCount", "p50",
                                  "p99", "p99.9", "p100", "p0"])
def test_supported_statistics(stat: str) -> None:
    check_statistic(stat)


@pytest.mark.parametrize("stat", ["sum", "p", "p101", "tm99", "IQM", "P99"])
def test_unsupported_statistics(stat: str) -> None:
    with pytest.raises(ValueError):
        check_statistic(stat)


def test_query_aligns_merges_and_respects_visibility() -> None:
    store = MetricStore(10)
    for start, value, visible_at in ((1000, 1.0, 1015), (1010, 2.0, 1025), (1020, 4.0, 1035)):
        store.put(KEY, start, Datapoint.of_values({value: 1}), visible_at)
    assert store.query(KEY, 1000, 1030, 10, "Sum", now=1025) == [(1000, 1.0), (1010, 2.0)]
    assert store.query(KEY, 1000, 1030, 10, "Sum", now=1035) == [
        (1000, 1.0), (1010, 2.0), (1020, 4.0)]
    # A 20 s period merges base periods into buckets aligned to multiples of 20.
    assert store.query(KEY, 1000, 1040, 20, "Sum", now=1035) == [(1000, 3.0), (1020, 4.0)]
    assert store.query(KEY, 1000, 1040, 20, "Maximum", now=1035) == [(1000, 2.0), (1020, 4.0)]
    # StartTime is rounded down to a period start; EndTime is exclusive.
    assert store.query(KEY, 1005, 1020, 10, "Sum", now=1035) == [(1000, 1.0), (1010, 2.0)]
    # A period that is not a multiple of the base is rounded up to one.
    assert store.effective_period(15) == 20
    assert store.effective_period(1) == 10


def test_latest_values_report_missing_periods_as_none() -> None:
    store = MetricStore(10)
    store.put(KEY, 1000, Datapoint.of_values({5.0: 2}), 1015)
    store.put(KEY, 1020, Datapoint.of_values({7.0: 1}), 1035)
    assert store.latest_values(KEY, 1020, 3, "Sum", now=1040) == [10.0, None, 7.0]
    assert store.latest_values(KEY, 1020, 3, "Sum", now=1030) == [10.0, None, None]


def test_keys_lists_only_published_series() -> None:
    store = MetricStore(10)
    store.put(KEY, 1000, Datapoint.of_values({1.0: 1}), 1015)
    assert list(store.keys(now=1014)) == []
    assert list(store.keys(now=1015)) == [KEY]
    assert list(store.keys(now=20000, since=19000)) == []

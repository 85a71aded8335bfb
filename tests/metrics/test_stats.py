"""HDR histograms merge exactly; ticks and aggregates add up."""

from __future__ import annotations

import random

import pytest

from metrics import hdr
from metrics.ensure import evaluate
from metrics.records import Tick
from metrics.stats import Aggregate, error_rate, merge_ticks, summarize


def histogram(values: list[int]) -> hdr.Histogram:
    h = hdr.new_histogram()
    for v in values:
        h.record_value(v)
    return h


def test_merging_encoded_histograms_equals_one_histogram_of_everything():
    rng = random.Random(3)
    parts = [[int(rng.lognormvariate(9, 1)) for _ in range(2000)] for _ in range(5)]
    merged = hdr.merge(hdr.encode(histogram(p)) for p in parts)
    whole = histogram([v for p in parts for v in p])
    assert merged.get_total_count() == 10_000
    for q in (50, 90, 99, 99.9):
        assert merged.get_value_at_percentile(q) == whole.get_value_at_percentile(q)


def test_range_and_precision():
    h = hdr.new_histogram()
    assert h.record_value(1) and h.record_value(300_000_000)
    assert not h.record_value(300_000_000 * 2)  # beyond 5 minutes: the caller counts it
    h = histogram([123_456])
    assert hdr.percentile_ms(h, 50) == pytest.approx(123.456, rel=1e-3)  # 3 digits
    assert hdr.percentile_ms(hdr.new_histogram(), 50) is None
    assert hdr.decode("").get_total_count() == 0


def tick(second: int, ok: int, errors: dict[str, int] | None = None, latency_us: int = 1000,
         phase_index: int = 0, **extra) -> Tick:
    outcomes = {"ok": ok, **(errors or {})}
    n = sum(outcomes.values())
    return Tick(second=second, t=1000.0 + second, elapsed=float(second), phase=f"p{phase_index}",
                phase_index=phase_index, target_rps=float(n), sent=n, completed=n,
                outcomes=outcomes, latency=hdr.encode(histogram([latency_us] * n)),
                service=hdr.encode(histogram([latency_us // 2] * n)), **extra)


def test_merge_ticks_adds_counts_and_histograms():
    merged = merge_ticks([tick(4, 10, {"5xx": 2}, 1000), tick(4, 5, {"4xx": 1}, 3000)])
    assert merged.sent == 18 and merged.target_rps == 18
    assert merged.outcomes == {"ok": 15, "5xx": 2, "4xx": 1}
    assert hdr.decode(merged.latency).get_total_count() == 18
    assert merged.workers == 2


def test_failed_latency_merges_apart_and_ensure_reads_ok_latency_only():
    """A fast failure must not make a latency check pass (issue 11)."""
    failed = hdr.encode(histogram([500] * 99))
    parts = [tick(4, 1, {"4xx": 99}, 300_000, failed_latency=failed),
             tick(4, 1, {"4xx": 99}, 300_000, failed_latency=failed)]
    merged = merge_ticks(parts)
    assert hdr.decode(merged.failed_latency).get_total_count() == 198
    snap = Aggregate().extend([merged]).snapshot()
    assert snap["failed_latency_ms"]["p99"] == pytest.approx(0.5, rel=1e-3)
    assert snap["ok_rps"] == 2
    check = evaluate({"p99": 100}, snap)[0]
    assert not check.ok and check.actual == pytest.approx(300, rel=1e-3)


def test_aggregate_rates_ignore_drain_seconds():
    agg = Aggregate().extend([tick(0, 100), tick(1, 100), tick(2, 30, in_schedule=False)])
    snap = agg.snapshot()
    assert snap["seconds"] == 2
    assert snap["achieved_rps"] == 115  # 230 sends over the 2 scheduled seconds
    assert snap["completed"] == 230


def test_error_rate_counts_requests_not_sent():
    assert error_rate({"ok": 90, "5xx": 10}) == pytest.approx(0.1)
    assert error_rate({"ok": 90}, not_sent=10) == pytest.approx(0.1)
    assert error_rate({}) == 0.0


def test_summary_per_phase_and_ensure():
    summary = summarize([tick(0, 100, latency_us=5000), tick(1, 90, {"5xx": 10},
                         latency_us=200_000, phase_index=1)])
    assert [p["name"] for p in summary["phases"]] == ["p0", "p1"]
    assert summary["phases"][1]["error_rate"] == pytest.approx(0.1)
    assert summary["total"]["latency_ms"]["p50"] == pytest.approx(5.0, rel=1e-3)
    checks = {c.name: c for c in evaluate({"maxErrorRate": 1, "p99": 250, "p50": 4},
                                          summary["total"])}
    assert not checks["maxErrorRate"].ok and checks["maxErrorRate"].actual == pytest.approx(5)
    assert checks["p99"].ok
    assert not checks["p50"].ok
    assert not evaluate({"p99": 10}, Aggregate().snapshot())[0].ok  # nothing measured


def test_fast_percentiles_and_mean_agree_with_hdrh_exactly():
    """metrics.hdr answers with numpy tables; hdrh's own (slow) walk is the reference."""
    rng = random.Random(11)
    for n in (1, 2, 17, 1000, 30_000):
        h = hdr.new_histogram()
        for _ in range(n):
            h.record_value(int(rng.lognormvariate(rng.uniform(3, 13), rng.uniform(0.1, 2))))
        percentiles = [0, 1, 25, 50, 90, 95, 99, 99.9, 100]
        assert hdr.percentiles_us(h, percentiles) == [h.get_value_at_percentile(p)
                                                      for p in percentiles]
        assert hdr.mean_us(h) == pytest.approx(h.get_mean_value(), rel=1e-12)

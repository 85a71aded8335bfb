"""What the figures must say (issue 11): successful-request latency as the headline, failures
named, and a comparison that never praises a run that lost requests."""

from __future__ import annotations

from metrics import hdr
from metrics.analysis import analyze
from metrics.compare import compare, plan_differences
from metrics.failures import describe, one_reason, request_description
from metrics.records import FORMAT_VERSION, LATENCY_ALL, LATENCY_OK, Header, Tick
from metrics.scaling_target import scaling_target_per_minute, target_meta
from metrics.stats import summarize
from tests.tui.report.helpers import T0, header, recording
from tui.report.tables import BETTER, WORSE, comparison_sections

PROFILE = {"scenarios": [{"flow": [{"post": {"url": "/DummyStage/DT", "body": "1"}}]}]}


def _histogram(values_ms: list[float]) -> str:
    histogram = hdr.new_histogram()
    for value in values_ms:
        histogram.record_value(int(value * 1000))
    return hdr.encode(histogram)


def _tick(second: int, ok_ms: list[float], failed_ms: list[float] = (), status: str = "503",
          codes: dict[str, int] | None = None, phase: str = "p", index: int = 0,
          kind: str = "5xx") -> Tick:
    n_ok, n_failed = len(ok_ms), len(failed_ms)
    outcomes = {"ok": n_ok} | ({kind: n_failed} if n_failed else {})
    statuses = ({"200": n_ok} if n_ok else {}) | ({status: n_failed} if n_failed and status
                                                  else {})
    return Tick(second=second, t=T0 + second, elapsed=float(second), phase=phase,
                phase_index=index, target_rps=float(n_ok + n_failed), sent=n_ok + n_failed,
                completed=n_ok + n_failed, outcomes=outcomes, status=statuses,
                errors=codes or {}, latency=_histogram(list(ok_ms)),
                failed_latency=_histogram(list(failed_ms)))


def _header_v2(plan: list[tuple[str, float, float]], rate: float = 10.0, **meta) -> Header:
    head = header(plan, profile=PROFILE)
    head.format = FORMAT_VERSION
    for phase in head.meta["plan"]:
        phase["rate_start"] = phase["rate_end"] = rate
    head.meta.update(meta)
    return head


def test_fast_failures_stay_out_of_the_ok_percentiles() -> None:
    ticks = [_tick(s, [20.0] * 10, [0.5] * 90) for s in range(5)]
    total = summarize(ticks)["total"]
    assert total["latency_ms"]["count"] == 50 and total["latency_ms"]["p50"] >= 19.9
    assert total["failed_latency_ms"]["count"] == 450
    assert total["failed_latency_ms"]["p99"] < 1.0
    assert total["ok_rps"] == 10.0


def test_every_request_failing_for_one_reason_is_said_plainly() -> None:
    ticks = [_tick(s, [], [0.6] * 50, status="404", kind="4xx") for s in range(3)]
    total = summarize(ticks)["total"]
    sentence = one_reason(total, request_description(PROFILE))
    assert sentence == ("every request got HTTP 404 — is the path right? the profile posts to "
                        "/DummyStage/DT")
    assert describe(total) == ["failed HTTP status: 404 ×150"]


def test_nearly_all_and_mixed_failures() -> None:
    nearly = summarize([_tick(0, [5.0] * 2, [1.0] * 98, status="",
                              codes={"ServerDisconnectedError": 98}, kind="conn_error")])
    assert one_reason(nearly["total"]) == (
        "98.0 % of requests failed with ServerDisconnectedError — is the server up and "
        "listening at the target?")
    half = summarize([_tick(0, [5.0] * 50, [1.0] * 50)])
    assert one_reason(half["total"]) is None
    mixed = summarize([_tick(0, [], [1.0] * 50, status="502"),
                       _tick(1, [], [1.0] * 50, status="504")])
    assert one_reason(mixed["total"]) is None
    assert describe(mixed["total"]) == ["failed HTTP status: 502 ×50, 504 ×50"]


def test_compare_does_not_praise_a_faster_run_that_lost_requests() -> None:
    clean = recording(_header_v2([("steady", 0, 5)], rate=100.0),
                      [_tick(s, [10.0] * 100) for s in range(5)])
    lossy_ticks = [_tick(s, [9.0] * 790, [30.0] * 110, status="", kind="conn_error",
                         codes={"ClientOSError": 110}, phase="flood") for s in range(5)]
    lossy = recording(_header_v2([("flood", 0, 5)], rate=900.0), lossy_ticks)
    a, b = analyze(clean, "clean"), analyze(lossy, "lossy")
    comparison = compare(a, b)
    # The plans differ: said first, and B's phase is not shown under A's phase name.
    assert comparison.notes[0].startswith("phases differ: clean “steady”; lossy “flood”")
    assert [(r.name, r.a is not None, r.b is not None) for r in comparison.rows] == [
        ("steady", True, False), ("flood", False, True), ("total", True, True)]
    total = comparison_sections(comparison)[-1]
    rows = {row.label: row for row in total.rows}
    assert rows["verdict (errors, then p99 ok)"].verdict == WORSE
    assert rows["completed, req/s"].verdict == 0  # 9× higher, but not "better"
    assert rows["successful (ok), req/s"].values == ["100.0", "790.0"]
    assert rows["client p99 (ok), ms"].verdict == BETTER  # faster, yet the verdict is worse
    assert "ClientOSError ×550" in rows["failed as"].values[1]


def test_plans_with_the_same_phases_at_other_rates_are_told_apart() -> None:
    a = analyze(recording(_header_v2([("steady", 0, 5)], rate=100.0),
                          [_tick(s, [10.0]) for s in range(5)]), "a")
    b = analyze(recording(_header_v2([("steady", 0, 5)], rate=200.0),
                          [_tick(s, [10.0]) for s in range(5)]), "b")
    assert plan_differences(a, b) == [
        "rates or durations differ (a vs b): “steady” 100 req/s for 5 s vs 200 req/s for 5 s"]
    assert [r.name for r in compare(a, b).rows] == ["steady", "total"]


def test_the_scaling_target_has_one_home_and_old_files_are_still_read() -> None:
    head = _header_v2([("steady", 0, 5)], **target_meta(1200.0, "profile"))
    assert scaling_target_per_minute(recording(head, [])) == 1200.0
    old = header([("steady", 0, 5)], profile={"scaling": {"target": 900}})
    assert scaling_target_per_minute(recording(old, [])) == 900.0
    assert analyze(recording(old, [_tick(0, [1.0])])).latency_basis == LATENCY_ALL
    assert analyze(recording(head, [_tick(0, [1.0])])).latency_basis == LATENCY_OK


def test_a_format_1_recording_still_reads_and_says_its_latency_covers_all_requests() -> None:
    from metrics.compare import load
    from tests.tui.report.helpers import FIXTURES

    old, new = load(FIXTURES / "http-1x-format1.jsonl"), load(FIXTURES / "http-4x.jsonl")
    assert old.header.format == 1 and old.latency_basis == LATENCY_ALL
    assert new.latency_basis == LATENCY_OK
    comparison = compare(old, new)
    assert ("latency covers all requests in http-1x-format1, successful requests only in "
            "http-4x (a recording older than format 2 mixed failed requests in)"
            in comparison.notes)
    labels = [row.label for row in comparison_sections(comparison)[-1].rows]
    assert "client p99 (http-1x-format1: all requests / http-4x: ok), ms" in labels

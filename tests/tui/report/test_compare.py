"""metrics.compare: windows, merged percentiles, breaches and scale-outs, on tables of cases
and on the recorded fixtures."""

from __future__ import annotations

import json
import math

import pytest

from metrics import hdr
from metrics.compare import (
    DEFAULT_SLO_MS,
    TOTAL,
    Window,
    analyze,
    compare,
    load,
    phase_time_map,
    plan_windows,
)
from metrics.recording import read_recording
from metrics.records import Tick
from tests.tui.report.helpers import (
    FIXTURES,
    activity,
    datapoint,
    endpoint,
    header,
    recording,
    tick,
)


def test_percentiles_come_from_merged_histograms_not_averages() -> None:
    # Second 1 has 2 slow requests in 100: its own p99 is 500 ms; over both seconds they are
    # 1 % of 200, so the merged p99 stays at 10 ms. Averaging would say 255 ms.
    run = analyze(recording(header([("p", 0, 2)]), [
        tick(0, [10.0] * 100),
        tick(1, [10.0] * 98 + [500.0, 500.0]),
    ]))
    seconds = run.timeline.client.values["p99_ms"]
    assert seconds[1] == pytest.approx(500, rel=0.01)
    assert run.figures().p99_ms == pytest.approx(10, rel=0.01)
    assert run.figures().max_ms == pytest.approx(500, rel=0.01)


@pytest.mark.parametrize(("plan", "expected"), [
    ([("warm up", 0, 60), ("peak", 60, 120)],
     [Window("warm up", 0, 0, 60), Window("peak", 1, 60, None)]),
    ([("only", 0, 30)], [Window("only", 0, 0, None)]),
])
def test_windows_come_from_the_plan_and_the_last_stays_open(plan, expected) -> None:
    assert plan_windows(header(plan)) == expected


def test_windows_without_a_plan_come_from_the_ticks_phases() -> None:
    ticks = [tick(0, [1.0], "a", 0), tick(1, [1.0], "a", 0), tick(2, [1.0], "b", 1)]
    assert plan_windows(header(None), ticks) == [Window("a", 0, 0, 2), Window("b", 1, 2, None)]


@pytest.mark.parametrize(("x", "expected"), [
    (-5, -5),      # before the first phase: unchanged
    (0, 0),
    (15, 30),      # B's 30 s warm up stretched onto A's 60 s
    (30, 60),
    (90, 120),     # same length middle phase: shifted only
    (150, 180),
    (160, 190),    # the last phase is open: time runs on at the same pace
])
def test_phase_time_map_stretches_each_phase_onto_the_reference(x, expected) -> None:
    reference = [Window("w", 0, 0, 60), Window("m", 1, 60, 180), Window("e", 2, 180, None)]
    source = [Window("w", 0, 0, 30), Window("m", 1, 30, 150), Window("e", 2, 150, None)]
    assert phase_time_map(source, reference)(x) == pytest.approx(expected)


def test_error_rates_split_by_kind_and_add_up() -> None:
    run = analyze(recording(header([("p", 0, 1)]), [
        tick(0, [5.0] * 10, outcomes={"ok": 4, "4xx": 2, "5xx": 1, "timeout": 2,
                                      "throttled": 1}, not_sent=5),
    ]))
    f = run.figures()
    assert (f.rate_4xx, f.rate_5xx, f.rate_other) == pytest.approx((2 / 15, 1 / 15, 8 / 15))
    assert f.rate_4xx + f.rate_5xx + f.rate_other == pytest.approx(f.error_rate)


def _scaling_run(slo: float = 50.0):
    head = header([("warm", 0, 10), ("peak", 10, 50)], ensure={"p99": slo},
                  profile={"Scaling": {"Target": 25000}})
    records = [tick(s, [10.0] * 20, "warm", 0) for s in range(10)]
    records += [tick(s, [300.0] * 20, "peak", 1) for s in range(10, 40)]
    records += [
        endpoint(0, 1, 1),
        datapoint(0, "InvocationsPerInstance", "Sum", 1000),   # 6,000 a minute: below
        datapoint(10, "InvocationsPerInstance", "Sum", 5000),  # 30,000 a minute: a breach
        datapoint(10, "Invocations", "Sum", 5000),
        datapoint(20, "Invocations", "Sum", 1000),
        datapoint(10, "ModelLatency", "Average", 20.0),
        datapoint(20, "ModelLatency", "Average", 80.0),
        activity(35, 2, "monitor alarm TargetTracking-AlarmHigh in state ALARM"),
        endpoint(36, 1, 2, "Updating"),
        endpoint(45, 2, 2),
        activity(47, 1, "monitor alarm TargetTracking-AlarmLow in state ALARM"),
    ]
    return analyze(recording(head, records))


def test_breach_to_scale_out_uses_the_first_breach_and_the_first_rise_after_it() -> None:
    run = _scaling_run()
    assert run.scaling_target == 25000  # found case-insensitively in the profile
    total = run.figures()
    # Per-instance load breaches at 10 s (the period's start), latency at 10 s too; the
    # activity that raises the count starts at 35 s, before the endpoint shows desired 2.
    assert total.first_breach is not None and total.first_breach.elapsed == 10
    assert total.scale_out is not None and total.scale_out.elapsed == 35
    assert total.scale_out.source == "scaling activity"
    assert total.breach_to_scale_out_s == 25
    assert [s.elapsed for s in run.scale_outs] == [35, 36]  # the scale-in at 47 is not one


def test_instances_range_includes_the_count_in_force_when_a_window_starts() -> None:
    run = _scaling_run()
    warm, peak = run.phases
    assert (run.figures(warm).instances_min, run.figures(warm).instances_max) == (1, 1)
    assert (run.figures(peak).instances_min, run.figures(peak).instances_max) == (1, 2)


def test_model_latency_average_is_weighted_by_invocations() -> None:
    run = _scaling_run()
    # (20 ms × 5000 + 80 ms × 1000) / 6000, not the plain mean of 50 ms.
    assert run.figures().model_latency_avg_ms == pytest.approx(30.0)


def test_seconds_over_the_objective_count_only_scheduled_seconds_above_it() -> None:
    run = _scaling_run(slo=50.0)
    assert run.figures().seconds_over_slo == 30
    assert run.slo_source == "the profile's ensure p99"
    assert analyze(run.recording, slo_ms=400.0).figures().seconds_over_slo == 0
    no_ensure = recording(header([("p", 0, 1)]), [tick(0, [1.0])])
    assert analyze(no_ensure).slo_ms == DEFAULT_SLO_MS


def test_a_failed_activity_is_not_a_scale_out() -> None:
    head = header([("p", 0, 10)], profile={"scaling": {"target": 100}})
    run = analyze(recording(head, [tick(s, [1.0]) for s in range(5)] + [
        endpoint(0, 1, 1), activity(3, 2, status="Failed")]))
    assert run.scale_outs == []


# --- on the recorded fixtures ----------------------------------------------------------------


def test_fixture_total_p99_equals_the_merge_of_every_recorded_histogram() -> None:
    rec = read_recording(FIXTURES / "http-1x.jsonl")
    merged = hdr.new_histogram()
    for record in rec.records:
        if isinstance(record, Tick) and record.latency:
            merged.add(hdr.decode(record.latency))
    run = analyze(rec)
    assert run.figures().p99_ms == merged.get_value_at_percentile(99) / 1000
    assert run.figures().requests == sum(r.sent for r in rec.records if isinstance(r, Tick))


def test_fixture_phases_partition_the_run() -> None:
    run = load(FIXTURES / "http-1x.jsonl")
    assert [w.name for w in run.phases] == ["warm up", "max load"]
    parts = [run.figures(w) for w in run.phases]
    total = run.figures(TOTAL)
    assert sum(p.requests for p in parts) == total.requests
    assert sum(p.seconds for p in parts) == total.seconds


def test_fixtures_compare_by_time_shows_the_saturated_run_worse() -> None:
    before, after = load(FIXTURES / "http-1x.jsonl"), load(FIXTURES / "http-4x.jsonl")
    comparison = compare(before, after, "time")
    assert [row.name for row in comparison.rows] == ["warm up", "max load", "total"]
    total = comparison.rows[-1]
    assert total.a.p99_ms > 5 * total.b.p99_ms
    assert total.a.rate_5xx > 0 and total.b.rate_5xx == 0
    assert total.a.seconds_over_slo > 0 and total.b.seconds_over_slo == 0
    assert total.a.first_breach is not None and total.b.first_breach is None


def test_fixtures_compare_by_phase_matches_phases_and_maps_time() -> None:
    comparison = compare(load(FIXTURES / "http-1x.jsonl"), load(FIXTURES / "http-4x.jsonl"),
                         "phase")
    assert [row.name for row in comparison.rows] == ["warm up", "max load", "total"]
    assert comparison.b_time(8.0) == pytest.approx(8.0)  # same plan: time is unchanged


def test_truncated_fixture_is_analysed_with_warnings_and_recomputed_ensure() -> None:
    run = load(FIXTURES / "http-4x-truncated.jsonl")
    assert run.footer is None
    assert any("truncated" in w for w in run.warnings)
    assert any("no footer" in w for w in run.warnings)
    checks, recomputed = run.ensure_results()
    assert recomputed and {c["name"] for c in checks} == {"p99", "maxErrorRate"}
    assert run.figures().requests > 0 and not math.isnan(run.figures().p99_ms)


def test_compare_refuses_an_unknown_alignment() -> None:
    run = load(FIXTURES / "http-4x.jsonl")
    with pytest.raises(ValueError, match="by must be"):
        compare(run, run, "sideways")


# --- the sandbox fixtures: server datapoints, endpoint states, scaling activities ------------


def test_sandbox_fixtures_show_the_scale_out_only_where_scaling_was_on() -> None:
    from tui.report.inputs import load_runs

    before, after = load_runs([FIXTURES / "sandbox-before.jsonl",
                               FIXTURES / "sandbox-after.jsonl"])
    # BEFORE had scaling off and names no target; the comparison holds it to AFTER's.
    assert before.scaling_target == after.scaling_target == 1500
    a, b = before.figures(), after.figures()
    assert a.first_breach is not None and a.first_breach.kind == "invocations per instance"
    assert a.scale_out is None and (a.instances_min, a.instances_max) == (1, 1)
    assert b.first_breach is not None and b.scale_out is not None
    assert b.scale_out.source == "scaling activity" and b.scale_out.instances_to == 4
    assert 0 < b.breach_to_scale_out_s < 60
    assert (b.instances_min, b.instances_max) == (1, 4)
    for f in (a, b):
        assert f.model_latency_avg_ms is not None and f.model_latency_avg_ms > 0
        assert f.server_invocations == pytest.approx(f.requests, rel=0.1)
    # The blog's story: one instance saturates at the peak (queue full: 503) and stays slow;
    # with scaling the endpoint grows and the cool-down is healthy again.
    peak_a, peak_b = before.figures(before.phases[1]), after.figures(after.phases[1])
    assert peak_a.rate_5xx > peak_b.rate_5xx and peak_a.p50_ms > 100
    assert a.seconds_over_slo > b.seconds_over_slo
    cool = after.figures(after.phases[2])
    assert cool.instances_min >= 2 and cool.p99_ms < after.slo_ms and cool.rate_5xx == 0


def test_the_scaling_target_is_found_in_the_policy_in_force_when_the_profile_names_none(
        tmp_path) -> None:
    lines = (FIXTURES / "sandbox-after.jsonl").read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0])
    del head["profile"]["scaling"]
    path = tmp_path / "no-scaling-section.jsonl"
    path.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n", encoding="utf-8")
    run = load(path)
    assert run.scaling_target == 1500
    assert run.figures().first_breach is not None

"""The monitor's cost and load-generator rows, from a timeline fed records."""

from __future__ import annotations

from metrics.records import Header, Tick
from metrics.timeline import Timeline
from tui.monitor.widgets.run_figures import cost_rows, load_generator_rows


def _timeline(late: int, cpu: dict[str, float] | None) -> Timeline:
    timeline = Timeline()
    timeline.add(Header(format=3, tool_version="t", started_at="", t=0.0, target="x", meta={
        "load": {"late_ms": 10.0},
        "prices": {"*": {"usd_per_hour": 3.6, "source": "--price", "date": "2026-12-07"}}}))
    for second in range(10):
        timeline.add(Tick(second=second, t=float(second), elapsed=float(second), phase="p",
                          phase_index=0, target_rps=100, sent=100, completed=100,
                          outcomes={"ok": 100}, late=late, cpu=cpu or {}))
    return timeline


def test_a_run_that_keeps_up_and_what_it_costs() -> None:
    timeline = _timeline(0, {"0": 0.25})
    assert load_generator_rows(timeline) == [("load gen", "ok, CPU ≤ 25 %")]
    assert cost_rows(timeline) == [("cost", "$0.0100 so far"), ("cost per hour", "$3.60 now"),
                                   ("per M ok", "$10.00")]


def test_a_limited_run_leads_with_the_reason() -> None:
    [(label, value)] = load_generator_rows(_timeline(30, {"0": 0.5}))
    assert label == "load gen"
    assert value == "LIMITED: 30 % of requests sent late (over 10 ms); add workers"


def test_recordings_before_workers_measured_themselves_show_no_row() -> None:
    assert load_generator_rows(_timeline(30, None)) == []

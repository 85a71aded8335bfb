"""The monitor's charts for a streaming target: output tokens/s on the rate chart's right-hand
axis, and the instances chart's concurrency (the endpoint's ConcurrentRequestsPerModel at its
10 s resolution beside the client's requests in flight)."""

from __future__ import annotations

from metrics.records import Datapoint, Header, Tick
from metrics.timeline import Timeline
from tests.llm.test_llm_views import tick
from tui.console import llm_summary_lines
from tui.monitor.widgets import ChartView, InstancesChart, RpsChart


def timeline(streaming: bool) -> Timeline:
    line = Timeline()
    line.add(Header(format=3, tool_version="t", started_at="", t=0.0, target="x",
                    profile={"llm": {"api": "chat"}} if streaming else {}))
    for second in range(60):
        point = tick(second, streaming)
        point.in_flight = 7
        line.add(point)
    line.add(Datapoint(t=0.0, period=60, namespace="AWS/SageMaker", metric="Invocations",
                       stat="Sum", value=120.0, unit="count"))
    for start in range(0, 60, 10):
        line.add(Datapoint(t=float(start), period=10, namespace="AWS/SageMaker",
                           metric="ConcurrentRequestsPerModel", stat="Average",
                           value=6.5 + start / 100, unit="count"))
    return line


def by_label(lines) -> dict:
    return {line.label: line for line in lines if line.xs}


def test_output_tokens_per_second_are_on_the_right_axis_of_the_rate_chart():
    view = ChartView(timeline(True), 60.0, None)
    lines = by_label(RpsChart().lines(view, 0, 60, 1))
    assert lines["out tok/s"].right and set(lines["out tok/s"].ys) == {60.0}
    assert not any(line.right for label, line in lines.items() if label != "out tok/s")
    # Invocations stay per minute: 120 a minute is 2 req/s, one step 60 s wide.
    assert lines["server"].xs == [0.0, 60.0] and lines["server"].ys == [2.0, 2.0]
    plain = by_label(RpsChart().lines(ChartView(timeline(False), 60.0, None), 0, 60, 1))
    assert "out tok/s" not in plain


def test_the_instances_chart_shows_the_endpoints_concurrency_beside_the_clients():
    view = ChartView(timeline(True), 60.0, None)
    chart = InstancesChart()
    lines = by_label(chart.lines(view, 0, 60, 1))
    per_model = lines["per model"]
    assert per_model.right and lines["in flight"].right
    # Six 10 s steps, each its own value: the high-resolution series keeps its period.
    assert per_model.xs[:4] == [0.0, 10.0, 10.0, 20.0]
    assert per_model.ys[::2] == [6.5 + s / 100 for s in range(0, 60, 10)]
    assert set(lines["in flight"].ys) == {7.0}
    assert "tick" in chart.inputs(view)
    plain = ChartView(timeline(False), 60.0, None)
    assert "per model" not in by_label(chart.lines(plain, 0, 60, 1))
    assert chart.inputs(plain) == ("endpoint", "scaling")  # no redraw per tick


def test_the_summary_says_how_many_streams_the_interrupt_cut():
    lines = llm_summary_lines({"phases": [], "total": {"interrupted": 3}}, note=False)
    assert lines[-1].startswith("3 streams cut by the interrupt")
    assert not any("cut by" in line for line in
                   llm_summary_lines({"phases": [], "total": {"interrupted": 0}}))


def test_interrupted_streams_merge_and_stay_out_of_goodput():
    from metrics.llm import LlmAggregate, merge_llm
    from metrics.stats import merge_ticks

    parts = [tick(0), tick(0)]
    parts[0].interrupted, parts[1].interrupted = 2, 1
    merged = merge_llm(merge_ticks(parts), parts)
    assert merged.interrupted == 3 and merged.completed == 4
    snap = LlmAggregate().extend([merged]).snapshot()
    assert snap["interrupted"] == 3 and snap["goodput_pct"] == 50.0
    assert isinstance(merged, Tick)


def test_the_figures_panel_shows_the_latest_concurrency_per_model_and_its_period():
    from tui.monitor.widgets.figures import server_rows

    rows = dict(server_rows(timeline(True)))
    assert rows["conc/model"] == "7.0 (10 s)"
    assert "server, 60 s" in rows  # the standard series keep the header's period


def test_a_legend_tightens_before_it_is_cut():
    import re

    from tui.monitor.widgets.chart import Line, legend

    lines = [Line("current", (1, 1, 1)), Line("desired", (1, 1, 1)),
             Line("in flight", (1, 1, 1), right=True), Line("per model", (1, 1, 1), right=True)]

    def shown(columns: int) -> str:
        return re.sub(r"\[[^\]]*\]", "", legend("instances", lines, columns))

    roomy = shown(200)
    assert roomy == "instances  ━━ current  ━━ desired  ━━ in flight ▸  ━━ per model ▸"
    for columns in (60, 56):
        assert len(shown(columns)) <= columns < len(roomy)
    assert shown(56) == "instances ━current ━desired ━in flight ▸ ━per model ▸"

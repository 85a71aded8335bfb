"""The LLM figures where the user looks: timeline points, chart lines, figures rows, headless."""

from __future__ import annotations

import io

from metrics import hdr
from metrics.llm import LlmSummaryBuilder, llm_point
from metrics.records import Tick
from metrics.timeline import Timeline
from tui.console.printer import HeadlessPrinter, summary_lines
from tui.monitor.widgets import ChartView, LatencyChart, RpsChart
from tui.monitor.widgets.llm_figures import llm_rows


def encoded(*values_us: int) -> str:
    histogram = hdr.new_histogram()
    for value in values_us:
        histogram.record_value(value)
    return hdr.encode(histogram)


def tick(second: int, streaming: bool = True) -> Tick:
    t = Tick(second=second, t=float(second), elapsed=float(second), phase="p", phase_index=0,
             target_rps=2, sent=2, completed=2, outcomes={"ok": 2},
             latency=encoded(900_000, 1_100_000), service=encoded(900_000, 1_000_000),
             lag=encoded(100, 100))
    if streaming:
        t.ttft, t.ttft_sent = encoded(100_000, 300_000), encoded(90_000, 290_000)
        t.tpot, t.itl = encoded(30_000, 40_000), encoded(*[30_000] * 10)
        t.output_tokens, t.input_tokens, t.goodput = 60, 20, 1
    return t


def test_points_carry_ttft_tpot_tokens_and_goodput():
    point = llm_point(tick(0))
    assert round(point["ttft_p50_ms"]) == 100 and round(point["ttft_p99_ms"]) == 300
    assert round(point["tpot_p50_ms"]) == 30
    assert point["output_tps"] == 60 and point["goodput_rps"] == 1
    assert llm_point(tick(0, streaming=False)) == {}


def test_charts_draw_llm_lines_only_for_a_streaming_run():
    for streaming in (True, False):
        timeline = Timeline()
        for second in range(4):
            timeline.add(tick(second, streaming))
        view = ChartView(timeline, 4.0, None)
        latency = {line.label for line in LatencyChart().lines(view, 0, 4, 1) if line.xs}
        rate = {line.label for line in RpsChart().lines(view, 0, 4, 1) if line.xs}
        assert ({"TTFT p50", "TTFT p99", "TPOT"} <= latency) is streaming
        assert ("goodput" in rate) is streaming
        assert "p50 ok" in latency  # main labels a format-2+ run's client p50 "ok"


def test_figures_rows():
    rows = dict(llm_rows("LLM", [tick(0), tick(1)]))
    assert rows["tokens in/out"] == "20 / 60 /s"
    assert rows["TTFT p50/p99"].startswith("100") and rows["goodput"] == "50 %"
    assert llm_rows("LLM", [tick(0, streaming=False)]) == []


def test_headless_status_and_summary():
    out = io.StringIO()
    printer = HeadlessPrinter(out, interval=2)
    for second in range(2):
        printer(tick(second))
    text = out.getvalue()
    assert "llm: 60 tok/s out, TTFT p50 100 p99 300 ms, TPOT p50 30.0 ms, goodput 50%" in text
    builder = LlmSummaryBuilder()
    for second in range(3):
        builder.add(tick(second))
    lines = summary_lines({"phases": [], "total": {}, "llm": builder.result()})
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1:4] == ["60", "180", "60.0"]
    assert total.split()[-1] == "50%"

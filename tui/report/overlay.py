"""Two runs overlaid on shared axes: the monitor's four charts, and TTFT/TPOT for LLM runs.

Run A is blue and drawn wider beneath run B in orange, so equal lines show both.
"""

from __future__ import annotations

from metrics.compare import ON_P99, ON_TTFT, Comparison, RunAnalysis
from metrics.records import CONN_ERROR, HTTP_4XX, HTTP_5XX, OTHER, THROTTLED, TIMEOUT
from tui.report.charts import (
    BLUE,
    DASH_DOT,
    DASHED,
    DOTTED,
    ORANGE,
    RUN_COLOURS,
    Chart,
    Line,
    Shift,
    client_series,
    client_sum,
    instance_series,
    log_scale_wanted,
    objective_guides,
    phase_bands,
    scaling_marks,
    server_series,
)


def overlay_charts(comparison: Comparison) -> list[Chart]:
    """The monitor's four charts (load, latency, instances, errors) with both runs overlaid;
    for streaming LLM runs goodput on the load chart and a TTFT/TPOT chart after latency."""
    a, b = comparison.runs
    shifts = (float, comparison.b_time)
    end = max(a.duration, comparison.b_time(b.duration))
    bands = phase_bands(a)
    load, latency, instances, errors, ttft = [], [], [], [], []
    for run, color, shift, weight in zip((a, b), RUN_COLOURS, shifts, (4.0, 2.0), strict=True):
        name = run.label
        load += [
            Line(f"{name} sent", *client_series(run, "sent_rps", shift=shift), color,
                 weight=weight),
            Line(f"{name} scheduled", *client_series(run, "target_rps", shift=shift), color,
                 DOTTED),
            Line(f"{name} server Invocations/s",
                 *server_series(run, "Invocations", "Sum", True, shift=shift), color, dots=True),
        ]
        latency += [
            Line(f"{name} client p99 ({run.latency_basis})",
                 *client_series(run, "p99_ms", "max", shift=shift), color, weight=weight),
            Line(f"{name} client p50 ({run.latency_basis})",
                 *client_series(run, "p50_ms", shift=shift), color, DASHED),
            Line(f"{name} server ModelLatency avg",
                 *server_series(run, "ModelLatency", "Average", shift=shift), color, dots=True),
        ]
        instances += [
            Line(f"{name} instances", *instance_series(run, "current", shift), color, step=True,
                 weight=weight),
            *([Line(f"{name} copies", *instance_series(run, "current", shift, "copies"), color,
                    DASHED, step=True)] if run.timeline.copies else []),
        ]
        ttft += [
            Line(f"{name} TTFT p99", *client_series(run, "ttft_p99_ms", "max", shift=shift),
                 color, weight=weight),
            Line(f"{name} TTFT p50", *client_series(run, "ttft_p50_ms", shift=shift), color,
                 DASHED),
            Line(f"{name} TPOT p50", *client_series(run, "tpot_p50_ms", shift=shift), color,
                 DOTTED),
            Line(f"{name} TPOT p99", *client_series(run, "tpot_p99_ms", "max", shift=shift),
                 color, DASH_DOT),
        ]
        load.append(Line(f"{name} goodput", *client_series(run, "goodput_rps", shift=shift),
                         color, DASHED))
        errors += [
            Line(f"{name} client errors", *client_sum(
                run, (HTTP_4XX, HTTP_5XX, THROTTLED, TIMEOUT, CONN_ERROR, OTHER, "not_sent"),
                shift), color, weight=weight),
            Line(f"{name} server 4XX+5XX per second", *_server_errors(run, shift), color,
                 dots=True),
        ]
    marks = (scaling_marks(a, BLUE, prefix=f"{a.label}: ")
             + scaling_marks(b, ORANGE, comparison.b_time, prefix=f"{b.label}: "))
    log = log_scale_wanted(latency)
    charts = [
        Chart("load", "Load", "requests per second", load, bands=bands, x_end=end),
        Chart("latency", "Latency", "ms (log scale)" if log else "ms", latency,
              guides=objective_guides([a, b], ON_P99), bands=bands,
              y_log=log, x_end=end),
        Chart("instances", "Instances", "instances", instances, marks, bands=bands, x_end=end,
              y_integer=True),
        Chart("errors", "Errors", "requests per second", errors, bands=bands, x_end=end),
    ]
    if any(line.ys for line in ttft):  # streaming LLM runs: empty, so left out, otherwise
        ttft_log = log_scale_wanted(ttft)
        charts.insert(2, Chart("llm-latency", "Time to first token and per output token",
                               "ms (log scale)" if ttft_log else "ms", ttft,
                               guides=objective_guides([a, b], ON_TTFT), bands=bands,
                               y_log=ttft_log, x_end=end))
    if comparison.by == "phase":
        for chart in charts:
            chart.note = f"{b.label}'s time is stretched phase by phase onto {a.label}'s"
    return [c for c in charts if not c.empty or c.marks]


def _server_errors(run: RunAnalysis, shift: Shift) -> tuple[list[float], list[float]]:
    x4, y4 = server_series(run, "Invocation4XXErrors", "Sum", True)
    x5, y5 = server_series(run, "Invocation5XXErrors", "Sum", True)
    totals: dict[float, float] = {}
    for x, y in [*zip(x4, y4, strict=True), *zip(x5, y5, strict=True)]:
        totals[x] = totals.get(x, 0.0) + y
    xs = sorted(totals)
    return [shift(x) for x in xs], [totals[x] for x in xs]

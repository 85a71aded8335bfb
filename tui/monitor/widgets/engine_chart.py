"""The serving engine's own view of the load: its requests running and waiting beside the
client's requests in flight, its KV-cache use on the right-hand axis, and under the chart its
latest figures (prefix-cache hits, its own TTFT and TPOT, tokens/s).

The panel shows only in a session that scrapes an engine (``engine:`` in the profile, or
``--engine-metrics``); while no page has come (the endpoint down, slow, not Prometheus text)
it says "no engine metrics" and why. Engine series are drawn as steps over their scrape
interval, as server series are over their period.
"""

from __future__ import annotations

from metrics.engine import E2E, KV_CACHE, PREFIX_HITS, RUNNING, TOKENS, TPOT, TTFT, WAITING
from metrics.timeline import Timeline
from tui.monitor.widgets.chart import (
    RGB,
    ChartView,
    Line,
    TimeChart,
    client_line,
    on_right,
    period_line,
)

ENGINE_NAMES = {"vllm": "vLLM", "tgi": "TGI", "sglang": "SGLang", "triton": "Triton"}
RUNNING_COLOR = (90, 220, 120)
WAITING_COLOR = (255, 120, 40)
IN_FLIGHT = (80, 200, 255)
KV_COLOR = (200, 120, 255)


def engine_line(view: ChartView, metric: str, stat: str, label: str, color: RGB, x0: float,
                x1: float, bucket: int, how: str = "mean") -> Line:
    """One engine series as steps over its scrape interval (bucketed when the interval is
    finer than the chart's bucket)."""
    timeline = view.timeline
    xs, ys = timeline.engine_series(metric, stat)
    period = float(timeline.engine_periods.get((metric, stat), 1))
    return period_line(label, color, xs, ys, period, x0, x1, bucket, how)


def engine_title(timeline: Timeline) -> str:
    name = ENGINE_NAMES.get(timeline.engine_name or "")
    return f"engine ({name})" if name else "engine"


def engine_figures(timeline: Timeline) -> str:
    """The latest engine figures in one line, or "no engine metrics" and why."""
    if not timeline.engine:
        why = timeline.engine_failure or ("waiting for the first scrape"
                                          if timeline.engine_scraped else "")
        return f"no engine metrics{': ' + why if why else ''}"
    parts = []

    def latest(metric: str, stat: str) -> float | None:
        return timeline.latest_engine(metric, stat)

    # The queue first: on a small terminal the note is cut from the right.
    for metric, label in ((RUNNING, "running"), (WAITING, "waiting")):
        value = latest(metric, "Value")
        if value is not None:
            parts.append(f"{label} {value:.0f}")
    for metric, label in ((TTFT, "TTFT"), (TPOT, "TPOT")):
        p50, p99 = latest(metric, "p50"), latest(metric, "p99")
        if p50 is not None and p99 is not None:
            parts.append(f"{label} {_ms(p50)}/{_ms(p99)} ms")
        elif (mean := latest(metric, "Average")) is not None:
            parts.append(f"{label} avg {_ms(mean)} ms")
    for metric, label in ((KV_CACHE, "KV"), (PREFIX_HITS, "prefix hits")):
        value = latest(metric, "Value")
        if value is not None:
            parts.append(f"{label} {value:.0f}%")
    for metric, label in ((E2E, "e2e"),):
        p50, p99 = latest(metric, "p50"), latest(metric, "p99")
        if p50 is not None and p99 is not None:
            parts.append(f"{label} {_ms(p50)}/{_ms(p99)} ms")
        elif (mean := latest(metric, "Average")) is not None:
            parts.append(f"{label} avg {_ms(mean)} ms")
    tokens = latest(TOKENS, "Rate")
    if tokens is not None:
        parts.append(f"{tokens:,.0f} tok/s")
    if timeline.engine_failure:
        parts.insert(0, f"stale: {timeline.engine_failure}")
    return " · ".join(parts)


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


class EngineChart(TimeChart):
    """Engine running and waiting vs client in flight; KV cache % on the right."""

    TITLE = "engine"
    INPUTS = ("tick", "metric", "event")

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        self.TITLE = engine_title(view.timeline)
        return [
            client_line(view, "in_flight", "client in flight", IN_FLIGHT, x0, x1, bucket,
                        how="max"),
            engine_line(view, RUNNING, "Value", "running", RUNNING_COLOR, x0, x1, bucket),
            engine_line(view, WAITING, "Value", "waiting", WAITING_COLOR, x0, x1, bucket),
            on_right(engine_line(view, KV_CACHE, "Value", "KV %", KV_COLOR, x0, x1, bucket)),
        ]

    def note(self, view: ChartView, drawn: list[Line]) -> str:
        return engine_figures(view.timeline)

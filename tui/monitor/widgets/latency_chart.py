"""Latency in ms on one axis: what clients saw against what the model spent."""

from __future__ import annotations

from metrics.records import LATENCY_OK, latency_basis
from tui.monitor.widgets.chart import ChartView, Line, TimeChart, client_line, server_line

CLIENT_P50 = (120, 220, 255)
CLIENT_P99 = (40, 120, 255)
MODEL_AVG = (255, 210, 60)
MODEL_P99 = (255, 120, 40)
OVERHEAD = (200, 120, 255)
CLIENT_FAILED = (255, 80, 80)
# Streaming LLM targets: time to first token and per output token (empty otherwise: not drawn).
TTFT_P50 = (90, 230, 140)
TTFT_P99 = (30, 160, 80)
TPOT_P50 = (230, 120, 200)


class LatencyChart(TimeChart):
    """Client p50/p99 of successful requests (from each request's intended send), the failed
    requests' p99 apart, for streaming targets TTFT p50/p99 and TPOT, vs ModelLatency and
    OverheadLatency.

    A format-1 replay mixed failures into p50/p99: its labels drop the "ok".
    """

    TITLE = "latency ms"
    INPUTS = ("tick", "metric")

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        ok = " ok" if latency_basis(view.timeline.header) == LATENCY_OK else ""
        return [
            client_line(view, "p50_ms", f"p50{ok}", CLIENT_P50, x0, x1, bucket),
            client_line(view, "p99_ms", f"p99{ok}", CLIENT_P99, x0, x1, bucket, how="max"),
            client_line(view, "failed_p99_ms", "fail p99", CLIENT_FAILED, x0, x1, bucket,
                        how="max"),
            client_line(view, "ttft_p50_ms", "TTFT p50", TTFT_P50, x0, x1, bucket),
            client_line(view, "ttft_p99_ms", "TTFT p99", TTFT_P99, x0, x1, bucket, how="max"),
            client_line(view, "tpot_p50_ms", "TPOT", TPOT_P50, x0, x1, bucket),
            server_line(view, "ModelLatency", "Average", "model", MODEL_AVG, x0, x1, bucket),
            server_line(view, "ModelLatency", "p99", "model p99", MODEL_P99, x0, x1, bucket,
                        how="max"),
            server_line(view, "OverheadLatency", "Average", "overhead", OVERHEAD, x0, x1,
                        bucket),
        ]

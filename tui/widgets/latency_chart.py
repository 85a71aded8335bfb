"""Latency in ms on one axis: what clients saw against what the model spent."""

from __future__ import annotations

from tui.widgets.chart import ChartView, Line, TimeChart, client_line, server_line

CLIENT_P50 = (120, 220, 255)
CLIENT_P99 = (40, 120, 255)
MODEL_AVG = (255, 210, 60)
MODEL_P99 = (255, 120, 40)
OVERHEAD = (200, 120, 255)
# Streaming LLM targets: time to first token and per output token (empty otherwise: not drawn).
TTFT_P50 = (90, 230, 140)
TTFT_P99 = (30, 160, 80)
TPOT_P50 = (230, 120, 200)


class LatencyChart(TimeChart):
    """Client p50/p99 (from each request's intended send), and for streaming targets TTFT
    p50/p99 and TPOT, vs ModelLatency and OverheadLatency."""

    TITLE = "latency ms"
    INPUTS = ("tick", "metric")

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        return [
            client_line(view, "p50_ms", "p50", CLIENT_P50, x0, x1, bucket),
            client_line(view, "p99_ms", "p99", CLIENT_P99, x0, x1, bucket, how="max"),
            client_line(view, "ttft_p50_ms", "TTFT p50", TTFT_P50, x0, x1, bucket),
            client_line(view, "ttft_p99_ms", "TTFT p99", TTFT_P99, x0, x1, bucket, how="max"),
            client_line(view, "tpot_p50_ms", "TPOT", TPOT_P50, x0, x1, bucket),
            server_line(view, "ModelLatency", "Average", "model", MODEL_AVG, x0, x1, bucket),
            server_line(view, "ModelLatency", "p99", "model p99", MODEL_P99, x0, x1, bucket,
                        how="max"),
            server_line(view, "OverheadLatency", "Average", "overhead", OVERHEAD, x0, x1,
                        bucket),
        ]

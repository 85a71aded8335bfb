"""Requests per second: the schedule's target, what the client sent, what the server counted;
for a streaming target also goodput req/s, and output tokens/s on its own axis on the right
(10-100 times req/s: on the same axis it would flatten every other line)."""

from __future__ import annotations

from tui.monitor.widgets.chart import (
    ChartView,
    Line,
    TimeChart,
    client_line,
    on_right,
    server_line,
    waiting_note,
)

TARGET = (150, 150, 150)
CLIENT = (80, 200, 255)
SERVER = (255, 170, 40)
GOODPUT = (90, 230, 140)  # streaming LLM targets: requests/s that met both SLOs
TOKENS = (230, 120, 200)  # streaming LLM targets: output tokens/s, on the right axis


class RpsChart(TimeChart):
    """Target and achieved rate per second, and the server's Invocations per second."""

    TITLE = "req/s"
    INPUTS = ("tick", "metric")

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        return [
            client_line(view, "sent_rps", "sent", CLIENT, x0, x1, bucket),
            client_line(view, "target_rps", "target", TARGET, x0, x1, bucket),
            server_line(view, "Invocations", "Sum", "server", SERVER, x0, x1,
                        bucket, rate=True),
            client_line(view, "goodput_rps", "goodput", GOODPUT, x0, x1, bucket),
            on_right(client_line(view, "output_tps", "out tok/s", TOKENS, x0, x1, bucket)),
        ]

    def note(self, view: ChartView, drawn: list[Line]) -> str:
        return "" if view.timeline.server else waiting_note(view, "server metrics")

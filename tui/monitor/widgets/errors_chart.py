"""Errors per second: the client's view by outcome against the server's 4XX/5XX counts."""

from __future__ import annotations

from tui.monitor.widgets.chart import ChartView, Line, TimeChart, client_line, server_line

CLIENT_4XX = (255, 220, 80)
CLIENT_5XX = (255, 80, 80)
TIMEOUT = (255, 140, 200)
CONN_ERROR = (170, 120, 255)
SERVER_4XX = (200, 170, 90)
SERVER_5XX = (255, 140, 0)


class ErrorsChart(TimeChart):
    """Client errors per second by outcome, with the server's 4XX/5XX per second.

    Throttled requests count as 4xx here, as they do in the server's Invocation4XXErrors.
    """

    TITLE = "errors/s"
    INPUTS = ("tick", "metric")
    HIDE_ZERO = True

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        return [
            client_line(view, ("4xx", "throttled"), "4xx", CLIENT_4XX, x0, x1, bucket,
                        counts=True),
            client_line(view, "5xx", "5xx", CLIENT_5XX, x0, x1, bucket, counts=True),
            client_line(view, "timeout", "timeout", TIMEOUT, x0, x1, bucket, counts=True),
            client_line(view, "conn_error", "conn", CONN_ERROR, x0, x1, bucket,
                        counts=True),
            server_line(view, "Invocation4XXErrors", "Sum", "srv 4XX", SERVER_4XX, x0, x1,
                        bucket, rate=True),
            server_line(view, "Invocation5XXErrors", "Sum", "srv 5XX", SERVER_5XX, x0, x1,
                        bucket, rate=True),
        ]

    def note(self, view: ChartView, drawn: list[Line]) -> str:
        return "no errors in view" if view.timeline.counts["tick"] and not drawn else ""

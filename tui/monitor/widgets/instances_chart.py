"""Instances over time: current and desired counts, with scaling activities marked; for a
streaming target also the concurrency, on its own axis on the right.

The endpoint's ``ConcurrentRequestsPerModel`` (Average over instances, every 10 s, queued
requests included: what concurrency target tracking scales on) is drawn beside the client's
requests in flight (the whole endpoint's). With one instance the two should agree; with n,
the endpoint's figure is about the client's divided by n.
"""

from __future__ import annotations

from tui.monitor.widgets.chart import (
    ChartView,
    Line,
    TimeChart,
    client_line,
    on_right,
    server_line,
    streaming,
    waiting_note,
)

CURRENT = (90, 220, 120)
DESIRED = (255, 220, 80)
PER_MODEL = (255, 120, 40)
IN_FLIGHT = (80, 200, 255)


class InstancesChart(TimeChart):
    """Current and desired instance counts as steps; a vertical line at each scaling activity."""

    TITLE = "instances"
    INPUTS = ("endpoint", "scaling")
    INTEGER_Y = True

    def inputs(self, view: ChartView) -> tuple[str, ...]:
        # A plain run's chart changes only with the endpoint: no redraw per tick.
        return (*self.INPUTS, "tick", "metric") if streaming(view) else self.INPUTS

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        points = view.timeline.instances
        current = Line("current", CURRENT)
        desired = Line("desired", DESIRED)
        for i, point in enumerate(points):
            start = point.elapsed
            end = points[i + 1].elapsed if i + 1 < len(points) else max(view.now, start)
            if end < x0 or start > x1:
                continue
            start, end = max(start, x0), min(end, x1)
            for line, value in ((current, point.current), (desired, point.desired)):
                if value is not None:
                    line.xs += [start, end]
                    line.ys += [float(value), float(value)]
        if not streaming(view):
            return [current, desired]
        return [current, desired,
                on_right(client_line(view, "in_flight", "in flight", IN_FLIGHT, x0, x1, bucket)),
                on_right(server_line(view, "ConcurrentRequestsPerModel", "Average",
                                     "per model", PER_MODEL, x0, x1, bucket))]

    def marks(self, view: ChartView, x0: float, x1: float) -> list[float]:
        return [x for x, _ in view.timeline.activity_marks() if x0 <= x <= x1]

    def note(self, view: ChartView, drawn: list[Line]) -> str:
        if not view.timeline.instances:
            return waiting_note(view, "endpoint state")
        marks = view.timeline.activity_marks()
        return f"{len(marks)} scaling activit{'y' if len(marks) == 1 else 'ies'}" if marks else ""

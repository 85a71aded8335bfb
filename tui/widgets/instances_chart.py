"""Instances over time: current and desired counts, with scaling activities marked."""

from __future__ import annotations

from tui.widgets.chart import ChartView, Line, TimeChart, waiting_note

CURRENT = (90, 220, 120)
DESIRED = (255, 220, 80)


class InstancesChart(TimeChart):
    """Current and desired instance counts as steps; a vertical line at each scaling activity."""

    TITLE = "instances"
    INPUTS = ("endpoint", "scaling")
    INTEGER_Y = True

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
        return [current, desired]

    def marks(self, view: ChartView, x0: float, x1: float) -> list[float]:
        return [x for x, _ in view.timeline.activity_marks() if x0 <= x <= x1]

    def note(self, view: ChartView, drawn: list[Line]) -> str:
        if not view.timeline.instances:
            return waiting_note(view, "endpoint state")
        marks = view.timeline.activity_marks()
        return f"{len(marks)} scaling activit{'y' if len(marks) == 1 else 'ies'}" if marks else ""

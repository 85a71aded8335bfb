"""Instances over time: current and desired counts, with scaling activities marked; for a
streaming target also the concurrency, on its own axis on the right. With an inference
component, its copies (current and desired) on the same axis and time line as the instances:
both are counts, and the story of a component is copies first, then instances.

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
COPIES = (200, 120, 255)
COPIES_DESIRED = (255, 130, 200)


class InstancesChart(TimeChart):
    """Current and desired instance counts as steps; a vertical line at each scaling activity."""

    TITLE = "instances"
    INPUTS = ("endpoint", "scaling")
    INTEGER_Y = True

    def inputs(self, view: ChartView) -> tuple[str, ...]:
        # A plain run's chart changes only with the endpoint: no redraw per tick.
        return (*self.INPUTS, "tick", "metric") if streaming(view) else self.INPUTS

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        copies = view.timeline.copies
        if copies:
            counts = [*_steps(view.timeline.instances, view.now, x0, x1, "instances",
                              "desired", CURRENT, DESIRED),
                      *_steps(copies, view.now, x0, x1, "copies", "copies desired", COPIES,
                              COPIES_DESIRED)]
        else:
            counts = _steps(view.timeline.instances, view.now, x0, x1, "current", "desired",
                            CURRENT, DESIRED)
        if not streaming(view):
            return counts
        return [*counts,
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


def _steps(points: list, now: float, x0: float, x1: float, current_label: str,
           desired_label: str, current_color: tuple[int, int, int],
           desired_color: tuple[int, int, int]) -> list[Line]:
    """Current and desired counts of ``points`` (InstancePoint) as steps within [x0, x1]."""
    current = Line(current_label, current_color)
    desired = Line(desired_label, desired_color)
    for i, point in enumerate(points):
        start = point.elapsed
        end = points[i + 1].elapsed if i + 1 < len(points) else max(now, start)
        if end < x0 or start > x1:
            continue
        start, end = max(start, x0), min(end, x1)
        for line, value in ((current, point.current), (desired, point.desired)):
            if value is not None:
                line.xs += [start, end]
                line.ys += [float(value), float(value)]
    return [current, desired]

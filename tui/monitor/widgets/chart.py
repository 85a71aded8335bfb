"""The base of the four monitor charts: a plotext plot over elapsed time that redraws only
when what it shows changed.

A plotext redraw is the most expensive thing the monitor does, so each chart keeps a signature
of its inputs (the counts of the record types it draws, the visible time range, its size) and
skips the redraw when nothing moved. Points are bucketed by time to about two per braille
column; buckets are aligned to multiples of their width, so old points do not shimmer as new
ones arrive. Server series are per period (each its own: ConcurrentRequestsPerModel is 10 s
where the rest are a minute): they are drawn as steps spanning their period, which lines them
up with the client's per-second points on the same axis. A line of another unit (output
tokens/s beside req/s) goes on a second y axis on the right; its legend entry says "▸".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from textual_plotext import PlotextPlot

from metrics.timeline import Timeline, clock, downsample, nice_bucket

RGB = tuple[int, int, int]
_TICK_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
_MARKUP = re.compile(r"\[[^\]]*\]")  # a swatch's colour tags: no room on screen
# Columns taken by the y-axis labels and frame, roughly, when sizing buckets.
_AXIS_COLUMNS = 8


@dataclass(frozen=True)
class ChartView:
    """What every chart draws from: the state, the right edge in elapsed seconds, the window."""

    timeline: Timeline
    now: float
    window: float | None  # seconds shown; None: the whole run


@dataclass
class Line:
    label: str
    color: RGB
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    right: bool = False  # on the second y axis, on the right


def on_right(line: Line) -> Line:
    """``line`` moved to the right-hand y axis (another unit than the chart's own)."""
    line.right = True
    return line


def streaming(view: ChartView) -> bool:
    """The session streams an LLM target (its profile has an ``llm`` section)."""
    header = view.timeline.header
    return header is not None and bool((header.profile or {}).get("llm"))


def steps(xs: Sequence[float], ys: Sequence[float], width: float) -> tuple[list[float],
                                                                           list[float]]:
    """A step line: each value held from its x for ``width`` seconds (a server period)."""
    out_x: list[float] = []
    out_y: list[float] = []
    for x, y in zip(xs, ys, strict=True):
        out_x += [x, x + width]
        out_y += [y, y]
    return out_x, out_y


def time_ticks(x0: float, x1: float, columns: int) -> tuple[list[float], list[str]]:
    """Evenly spaced elapsed-time ticks labelled m:ss, about one per 12 columns."""
    most = max(2, columns // 12)
    step = next((s for s in _TICK_STEPS if (x1 - x0) / s <= most), _TICK_STEPS[-1])
    first = math.ceil(x0 / step) * step
    ticks = [float(t) for t in range(int(first), int(x1) + 1, step)]
    return ticks, [clock(t) for t in ticks]


def waiting_note(view: ChartView, what: str) -> str:
    """Why server-side data is missing: an HTTP target has none; a SageMaker one is late."""
    header = view.timeline.header
    if header is not None and header.meta.get("target_kind", "http") == "http":
        return f"no {what} for a plain HTTP target"
    return f"waiting for {what}"


def swatch(label: str, color: RGB, right: bool = False, mark: str = "━━",
           space: str = " ") -> str:
    r, g, b = color
    return f"[rgb({r},{g},{b})]{mark}[/]{space}{label}{' ▸' if right else ''}"


# Ever tighter legends (swatch, space after it, gap between entries): the first that fits.
_LEGENDS = (("━━", " ", "  "), ("━", " ", " "), ("━", "", " "))
# Shorter labels for when even the tightest legend of full labels does not fit (an 80-column
# terminal: the latency chart's six lines were cut to "━over…").
SHORT_LABELS = {"p50 ok": "p50", "p99 ok": "p99", "fail p99": "fail", "model": "mdl",
                "model p99": "mdl99", "overhead": "ovh", "TTFT p50": "ttft",
                "TTFT p99": "ttft99", "target": "tgt", "server": "srv", "goodput": "good",
                "out tok/s": "tok/s", "current": "cur", "desired": "want",
                "in flight": "infl", "per model": "/mdl"}


def legend(title: str, drawn: Sequence[Line], columns: int) -> str:
    """The title and a swatch per line, in the roomiest form that fits ``columns`` (a border
    title is cut, not wrapped): full labels, then short ones; when not even those fit, as
    many entries as do and "+N" for the rest (never an entry cut in the middle)."""
    for short in (False, True):
        labels = [SHORT_LABELS.get(line.label, line.label) if short else line.label
                  for line in drawn]
        words = [f"{label}{' ▸' if line.right else ''}" for label, line in zip(
            labels, drawn, strict=True)]
        for mark, space, gap in _LEGENDS:
            if len(title) + sum(len(gap + mark + space + w) for w in words) <= columns:
                return gap.join([title, *(swatch(label, line.color, line.right, mark, space)
                                          for label, line in zip(labels, drawn, strict=True))])
    mark, space, gap = _LEGENDS[-1]
    shown, used = [], len(title)
    for i, (label, line, word) in enumerate(zip(labels, drawn, words, strict=True)):
        rest = f" +{len(drawn) - i - 1}" if i < len(drawn) - 1 else ""
        if used + len(gap + mark + space + word) + len(rest) > columns:
            return gap.join([title, *shown, f"+{len(drawn) - i}"])
        shown.append(swatch(label, line.color, line.right, mark, space))
        used += len(gap + mark + space + word)
    return gap.join([title, *shown])


class TimeChart(PlotextPlot):
    """A chart of series over elapsed time; subclasses say what to draw in ``lines``."""

    TITLE = ""
    # Record types (``Record.TYPE``) whose arrival can change this chart.
    INPUTS: tuple[str, ...] = ("tick",)
    # Leave out lines that are zero throughout the visible range (errors that never happened).
    HIDE_ZERO = False
    # Whole numbers on the y axis, with room above the highest (instance counts).
    INTEGER_Y = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.can_focus = False
        self._signature: tuple[object, ...] | None = None
        self.redraws = 0
        self.border_title = self.TITLE

    @property
    def plot_columns(self) -> int:
        return max(10, self.content_size.width - _AXIS_COLUMNS)

    def lines(self, view: ChartView, x0: float, x1: float, bucket: int) -> list[Line]:
        """The series to draw, the one to keep on top first (it is also the legend order)."""
        raise NotImplementedError

    def marks(self, view: ChartView, x0: float, x1: float) -> list[float]:
        """Elapsed times to mark with a vertical line (scaling activities, say)."""
        return []

    def note(self, view: ChartView, drawn: list[Line]) -> str:
        """A short remark under the chart (what is missing and why)."""
        return ""

    def inputs(self, view: ChartView) -> tuple[str, ...]:
        """The record types whose arrival can change this chart for this session."""
        return self.INPUTS

    def x_range(self, view: ChartView) -> tuple[float, float]:
        right = max(view.now, 1.0)
        if view.window is None:
            return 0.0, right
        return max(0.0, right - view.window), right

    def update_chart(self, view: ChartView) -> bool:
        """Redraw if anything this chart shows changed; True if it redrew."""
        x0, x1 = self.x_range(view)
        size = (self.content_size.width, self.content_size.height)
        bucket = nice_bucket(x1 - x0, 2 * self.plot_columns)
        signature = (id(view.timeline), tuple(view.timeline.counts[t] for t in self.inputs(view)),
                     int(x0), int(x1), bucket, size, self.app.theme)
        if signature == self._signature or not size[0] or not size[1]:
            return False
        self._signature = signature
        self.redraws += 1
        drawn = [line for line in self.lines(view, x0, x1, bucket)
                 if line.xs and not (self.HIDE_ZERO and not any(line.ys))]
        self._draw(drawn, self.marks(view, x0, x1), x0, x1)
        note = self.note(view, drawn)
        compact = self.screen.has_class("-compact")  # no bottom border to carry the note
        # The border title's room: the widget less its corners and the "─ " around the title.
        room = self.size.width - 6
        title = legend(self.TITLE, drawn, room)
        if compact:  # the note shares the title: the legend first, the note in what is left
            left = room - len(_MARKUP.sub("", title)) - 2
            if note and left < len(note):
                note = note[:left - 1] + "…" if left > 8 else ""
            self.border_title = f"{title}  [dim]{note}[/]" if note else title
            self.border_subtitle = ""
        else:
            self.border_title, self.border_subtitle = title, note
        self.refresh()
        return True

    def _draw(self, drawn: list[Line], marks: list[float], x0: float, x1: float) -> None:
        plt = self.plt
        plt.clear_data()
        # On a small terminal the frame would take two of the few rows the chart has: keep
        # only the y axis.
        compact = self.screen.has_class("-compact")
        plt.frame(not compact)
        right = [line for line in drawn if line.right]
        if compact:
            plt.yaxes(True, bool(right))
        top = max((max(line.ys) for line in drawn if not line.right), default=0.0)
        # Last drawn wins a cell: draw in reverse so the first line listed (the client's) is on
        # top of the server's steps.
        for line in reversed(drawn):
            plt.plot(line.xs, line.ys, marker="braille", color=line.color,
                     yside="right" if line.right else "left")
        if right:
            right_top = max(max(line.ys) for line in right)
            plt.ylim(0.0, right_top * 1.1 if right_top > 0 else 1.0, yside="right")
        for x in marks:
            plt.vline(x, color=(200, 90, 200))
        plt.xlim(x0, x1)
        if self.INTEGER_Y:
            top = max(math.ceil(top), 1)
            plt.ylim(0, top + 0.5)
            step = max(1, math.ceil((top + 1) / max(2, self.content_size.height // 3)))
            plt.yticks(list(range(0, top + 1, step)))
        else:  # from zero: rates, counts and latencies read against nothing
            plt.ylim(0.0, top * 1.1 if top > 0 else 1.0)
        ticks, labels = time_ticks(x0, x1, self.plot_columns)
        plt.xticks(ticks, labels)


def client_line(view: ChartView, names: str | tuple[str, ...], label: str, color: RGB,
                x0: float, x1: float, bucket: int, how: str = "mean",
                counts: bool = False) -> Line:
    """One client series (or the sum of several), bucketed for the visible range.

    ``counts``: the series count events per point; they are turned into rates per second,
    since a point covers more than one second once the timeline has merged old points.
    """
    series = view.timeline.client
    start, end = view.timeline.window(x1 - x0)
    columns = [series.values[name][start:end] for name in
               ((names,) if isinstance(names, str) else names)]
    values: list[float | None] = []
    for i, width in enumerate(series.width[start:end]):
        parts = [column[i] for column in columns if column[i] is not None]
        total = sum(parts) if parts else None
        values.append(total / width if counts and total is not None else total)
    xs, ys = downsample(series.x[start:end], values, bucket, how, x0, x1)
    return Line(label, color, xs, ys)


def server_line(view: ChartView, metric: str, stat: str, label: str, color: RGB, x0: float,
                x1: float, bucket: int, rate: bool = False, how: str = "mean") -> Line:
    """One server series as steps over its periods; ``rate`` divides sums by the period.

    Periods shorter than the chart's bucket are merged into buckets first.
    """
    timeline = view.timeline
    xs, ys = timeline.server_series(metric, stat)
    period = float(timeline.period_of(metric, stat) or 60)
    if rate:
        # A period that began before the run (x < 0) saw load only from elapsed 0: its sum
        # over the whole period read as a fraction of the rate and drew a bar up at its end.
        ys = [y / (period + min(x, 0.0)) if period + min(x, 0.0) >= 1 else y / period
              for x, y in zip(xs, ys, strict=True)]
    return period_line(label, color, xs, ys, period, x0, x1, bucket, how)


def period_line(label: str, color: RGB, xs: Sequence[float], ys: Sequence[float],
                period: float, x0: float, x1: float, bucket: int, how: str = "mean") -> Line:
    """Values that each hold for ``period`` seconds as steps over the visible range; periods
    shorter than the chart's bucket are merged into buckets first."""
    width = period
    if bucket > period:
        xs, ys = downsample(xs, ys, bucket, how, x0 - bucket, x1)
        width = float(bucket)
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if x + width > x0 and x < x1]
    sx, sy = steps([x for x, _ in kept], [y for _, y in kept], width)
    return Line(label, color, sx, sy)

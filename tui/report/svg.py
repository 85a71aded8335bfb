"""Draw a ``Chart`` as inline SVG: no script, no font files, scales to the page's width.

The SVG has a fixed viewBox and ``width: 100%``, so text and lines scale with the column it sits
in. The legend is HTML beside it (``legend_html``), so it wraps at narrow widths instead of
covering the plot.
"""

from __future__ import annotations

import math
from html import escape

from metrics.timeline import clock
from tui.report.charts import Chart, Line

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 62, 18, 26, 42
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``ticks`` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def number(value: float) -> str:
    """Axis label: short and exact enough (1.5k, 250, 0.25)."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value / 1000:g}k"
    if magnitude >= 1:
        return f"{value:g}"
    return f"{value:.3g}"


class _Scale:
    def __init__(self, chart: Chart) -> None:
        lines = [line for line in chart.lines if line.ys]
        x_values = [x for line in lines for x in line.xs] + [m.x for m in chart.marks]
        # Server periods are aligned to the wall clock: the first may start before elapsed 0.
        self.x0 = min([0.0, *x_values])
        self.x1 = max([chart.x_end, *x_values, 1.0])
        ys = [y for line in lines for y in line.ys]
        data_max = max(ys, default=0.0)
        # A guide far above the data would squash it; it is named in a note instead.
        self.guides = [g for g in chart.guides if g.y <= max(2 * data_max, 1e-9)]
        self.hidden_guides = [g for g in chart.guides if g not in self.guides]
        top = max([data_max, *(g.y for g in self.guides)])
        self.log = chart.y_log and any(y > 0 for y in ys)
        if self.log:
            positive = [y for y in ys if y > 0] + [g.y for g in self.guides]
            self.y0 = 10 ** math.floor(math.log10(min(positive)))
            self.y1 = 10 ** math.ceil(math.log10(max(positive) * 1.05))
            if self.y1 <= self.y0:
                self.y1 = self.y0 * 10
        else:
            self.y0 = 0.0
            step = nice_step(top or 1.0)
            if chart.y_integer:
                step = max(1.0, round(step))
            self.y1 = step * math.ceil((top * 1.05 or 1.0) / step)
            self.y_step = step

    def x(self, value: float) -> float:
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * PLOT_W

    def y(self, value: float) -> float:
        if self.log:
            value = max(value, self.y0)
            frac = (math.log10(value) - math.log10(self.y0)) / (
                math.log10(self.y1) - math.log10(self.y0))
        else:
            frac = (value - self.y0) / (self.y1 - self.y0)
        return TOP + PLOT_H - frac * PLOT_H

    def y_ticks(self) -> list[float]:
        if self.log:
            ticks = []
            decade = self.y0
            while decade <= self.y1 * 1.0001:
                for factor in (1, 2, 5):
                    if decade * factor <= self.y1 * 1.0001:
                        ticks.append(decade * factor)
                decade *= 10
            return ticks
        count = round((self.y1 - self.y0) / self.y_step)
        return [self.y0 + i * self.y_step for i in range(count + 1)]

    def x_ticks(self) -> list[float]:
        span = self.x1 - self.x0
        step = next((s for s in TIME_STEPS if span / s <= 8), TIME_STEPS[-1])
        first = math.ceil(self.x0 / step)
        return [i * step for i in range(first, int(self.x1 // step) + 1)]


def _path(line: Line, scale: _Scale) -> str:
    if not line.ys:
        return ""
    parts = []
    for i, (x, y) in enumerate(zip(line.xs, line.ys, strict=True)):
        px, py = scale.x(x), scale.y(y)
        if i == 0:
            parts.append(f"M{px:.1f},{py:.1f}")
        elif line.step:
            parts.append(f"H{px:.1f}V{py:.1f}")
        else:
            parts.append(f"L{px:.1f},{py:.1f}")
    return "".join(parts)


def render(chart: Chart) -> str:
    """The chart as one ``<svg>`` element."""
    scale = _Scale(chart)
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(chart.title)} over elapsed time" '
           f'xmlns="http://www.w3.org/2000/svg">']
    for i, band in enumerate(chart.bands):
        x0, x1 = scale.x(max(band.start, scale.x0)), scale.x(min(band.end, scale.x1))
        if x1 <= x0:
            continue
        if i % 2:
            out.append(f'<rect class="band" x="{x0:.1f}" y="{TOP}" width="{x1 - x0:.1f}" '
                       f'height="{PLOT_H}"/>')
        out.append(f'<line class="band-edge" x1="{x0:.1f}" x2="{x0:.1f}" y1="{TOP}" '
                   f'y2="{TOP + PLOT_H}"/>')
        if x1 - x0 > 40:
            label = _fit(band.label, (x1 - x0 - 8) / 6.2)
            out.append(f'<text class="band-label" x="{x0 + 4:.1f}" y="{TOP - 8}">'
                       f'{escape(label)}</text>')
    for tick in scale.y_ticks():
        y = scale.y(tick)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{number(tick)}</text>')
    for tick in scale.x_ticks():
        x = scale.x(tick)
        out.append(f'<line class="tick-mark" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + PLOT_H}" '
                   f'y2="{TOP + PLOT_H + 4}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{TOP + PLOT_H + 17}" '
                   f'text-anchor="middle">{clock(tick)}</text>')
    out.append(f'<text class="axis-label" x="{LEFT + PLOT_W / 2:.0f}" y="{HEIGHT - 6}" '
               'text-anchor="middle">elapsed time (m:ss)</text>')
    out.append(f'<text class="axis-label" transform="translate(14 {TOP + PLOT_H / 2:.0f}) '
               f'rotate(-90)" text-anchor="middle">{escape(chart.y_label)}</text>')
    # Drawn before the lines, so a series at zero shows on top of the axis.
    out.append(f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}"/>')
    for guide in scale.guides:
        y = scale.y(guide.y)
        out.append(f'<line class="guide" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" stroke="{guide.color}"/>')
        out.append(f'<text class="guide-label" x="{LEFT + PLOT_W - 4}" y="{y - 4:.1f}" '
                   f'text-anchor="end">{escape(guide.label)}</text>')
    for line in chart.lines:
        out.extend(_draw_line(line, scale))
    for mark in chart.marks:
        x = scale.x(mark.x)
        title = escape(f"{clock(mark.x)} {mark.label}: {mark.detail}".strip(": "))
        out.append(f'<g class="mark"><title>{title}</title>'
                   f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + PLOT_H}" '
                   f'stroke="{mark.color}"/>'
                   f'<path d="M{x - 5:.1f},{TOP + PLOT_H + 10}L{x + 5:.1f},{TOP + PLOT_H + 10}'
                   f'L{x:.1f},{TOP + PLOT_H + 2}Z" fill="{mark.color}"/></g>')
    out.append("</svg>")
    return "".join(out)


def _draw_line(line: Line, scale: _Scale) -> list[str]:
    path = _path(line, scale)
    if not path:
        return []
    label = escape(line.label)
    dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
    if not line.dots:
        return [f'<path class="series" data-series="{label}" d="{path}" stroke="{line.color}"'
                f' stroke-width="{line.weight:g}"{dash}><title>{label}</title></path>']
    circles = "".join(f'<circle cx="{scale.x(x):.1f}" cy="{scale.y(y):.1f}" r="2.6"/>'
                      for x, y in zip(line.xs, line.ys, strict=True))
    return [f'<g class="points" fill="{line.color}"><title>{label}</title>'
            f'<path class="series thin" data-series="{label}" d="{path}" '
            f'stroke="{line.color}"/>{circles}</g>']


def _fit(text: str, chars: float) -> str:
    chars = int(chars)
    return text if len(text) <= chars else text[:max(chars - 1, 1)] + "…"


def legend_html(chart: Chart) -> str:
    """The chart's legend: one swatch per line that has data, in the line's style."""
    items = []
    for line in chart.lines:
        if not line.ys:
            continue
        if line.dots:
            swatch = (f'<line x1="0" y1="6" x2="22" y2="6" stroke="{line.color}" '
                      f'stroke-width="1"/><circle cx="11" cy="6" r="3" fill="{line.color}"/>')
        else:
            dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
            swatch = (f'<line x1="0" y1="6" x2="22" y2="6" stroke="{line.color}" '
                      f'stroke-width="{max(line.weight, 2.5):g}"{dash}/>')
        items.append(f'<li><svg width="22" height="12" aria-hidden="true">{swatch}</svg>'
                     f'{escape(line.label)}</li>')
    kinds = {(m.color, m.kind) for m in chart.marks}
    for color, kind in sorted(kinds, key=lambda k: k[1]):
        items.append(f'<li><svg width="22" height="12" aria-hidden="true"><path '
                     f'd="M6,11L16,11L11,2Z" fill="{color}"/></svg>{escape(kind)}</li>')
    return f'<ul class="legend">{"".join(items)}</ul>'


def hidden_guides_note(chart: Chart) -> str:
    hidden = _Scale(chart).hidden_guides
    return "; ".join(f"{g.label} is above the data shown" for g in hidden)

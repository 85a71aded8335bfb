"""The HTML report of a what-if: the ranking, and the demand with each charted policy's instance
count and p99 on one time axis (three charts stacked, one column, the same x range).

It takes plain per-second figures (``PolicyTrace``), not the twin: the command runs the
policies and hands them over, so this module draws and decides nothing about the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from metrics.timeline import downsample, nice_bucket
from tui.report import charts as chart_specs
from tui.report.charts import (
    BLACK,
    BLUE,
    DASHED,
    DOTTED,
    GREEN,
    GREY,
    ORANGE,
    PURPLE,
    SKY,
    SOLID,
    YELLOW,
    Band,
    Chart,
    Guide,
    Line,
)
from tui.report.html_parts import cards_html, charts_html, note_html, page_html, table_html
from tui.report.tables import Table

# One colour and dash per charted policy, the first (the chosen one) widest and drawn beneath
# the others, so policies whose instance counts agree still show every line.
STYLES = ((BLUE, SOLID, 5.0), (ORANGE, DASHED, 3.6), (GREEN, SOLID, 2.6),
          (PURPLE, DOTTED, 2.2), (YELLOW, DASHED, 1.8), (SKY, SOLID, 1.4))
MAX_CHARTED = len(STYLES)


@dataclass(frozen=True, slots=True)
class PolicyTrace:
    """One policy's virtual run, second by second (index: elapsed second)."""

    label: str
    serving: Sequence[float]  # instances serving
    p99_ms: Sequence[float | None]  # of the second's successful requests; None without any
    mark: str = ""  # "*" the chosen policy, "ok" meets the SLO, "" does not


@dataclass(frozen=True, slots=True)
class WhatIfReport:
    traffic: str  # what the demand came from (a profile or a recording)
    twin: str  # the twin file and what it models
    demand: Sequence[float]  # requests sent per second
    phases: Sequence[tuple[float, float, str]]  # (start s, end s, name)
    ranking: Table  # every policy ranked, as the terminal prints it
    traces: Sequence[PolicyTrace]  # the policies charted, in ranking order
    slo_ms: float
    slo_text: str
    best_text: str  # the chosen policy as a scaling: block and requests
    policies: int  # how many were tried
    meeting: int  # how many meet the SLO
    seconds_taken: float


def _series(values: Sequence[float | None], bucket: int, how: str) -> tuple[list[float],
                                                                               list[float]]:
    clean = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
             for v in values]
    return downsample(range(len(clean)), clean, bucket, how)


def whatif_charts(report: WhatIfReport) -> list[Chart]:
    """Demand, instances serving and p99, one chart each over the same seconds."""
    end = float(len(report.demand))
    bucket = nice_bucket(end, chart_specs.MAX_POINTS)
    bands = [Band(start, stop, name) for start, stop, name in report.phases]
    xs, ys = _series(report.demand, bucket, "mean")
    demand = Chart("whatif-demand", "Demand: requests arriving per second", "req/s",
                   [Line("demand", xs, ys, BLACK)], bands=bands, x_end=end)
    instances = Chart("whatif-instances", "Instances serving, per policy", "instances",
                      bands=bands, x_end=end, y_integer=True)
    latency = Chart("whatif-p99", "Client p99 of successful requests, per second, per policy",
                    "p99 (ms)", guides=[Guide(report.slo_ms, f"SLO {report.slo_ms:g} ms",
                                              GREY)],
                    bands=bands, x_end=end)
    for trace, (color, dash, weight) in zip(report.traces, STYLES, strict=False):
        label = f"{trace.mark + ' ' if trace.mark else ''}{trace.label}"
        xs, ys = _series(trace.serving, bucket, "max")
        instances.lines.append(Line(label, xs, ys, color, dash, step=True, weight=weight))
        xs, ys = _series(trace.p99_ms, bucket, "max")
        latency.lines.append(Line(label, xs, ys, color, dash, weight=min(weight, 2.6)))
    latency.y_log = chart_specs.log_scale_wanted(latency.lines)
    if bucket > 1:
        for chart in (demand, instances, latency):
            chart.note = (f"One point per {bucket} s: demand is the mean, instances and p99 "
                          "the highest of each bucket.")
    return [demand, instances, latency]


def whatif_html(report: WhatIfReport, generated: datetime | None = None) -> str:
    """The whole document: cards, ranking, the charts on one time axis, the chosen policy."""
    generated = generated or datetime.now(UTC)
    best = next((t for t in report.traces if t.mark == "*"), None)
    cards = cards_html([
        ("policies tried", f"{report.policies}", f"in {report.seconds_taken:.1f} s of "
         "virtual time"),
        ("meet the SLO", f"{report.meeting}", report.slo_text),
        ("cheapest meeting it", escape(best.label) if best else "none", ""),
        ("traffic", escape(f"{len(report.demand):,} s, {sum(report.demand):,.0f} requests"),
         report.traffic),
    ])
    charted = len(report.traces)
    body = (cards
            + "<h2>Ranking</h2>"
            + table_html(report.ranking, text_columns=[1])
            + note_html("* the cheapest policy meeting the SLO; ok: meets it. Those meeting "
                        "the SLO are ranked first.")
            + "<h2>Over time</h2>"
            + note_html(f"{charted} {'policy' if charted == 1 else 'policies'} from the top "
                        "of the ranking on one time axis: "
                        "the demand, then each policy's instances serving and its p99. A "
                        "policy that behaves exactly like one above it is not drawn again "
                        "(“+N alike” in the legend); lines that agree lie on one another, the "
                        "chosen policy's widest.")
            + charts_html(whatif_charts(report), stacked=True)
            + "<h2>The chosen policy</h2>"
            + f"<pre>{escape(report.best_text)}</pre>")
    title = f"loadwatch what-if: {report.traffic}"
    sub = (f"Twin {report.twin} · simulated in virtual time, not measured · generated "
           f"{generated.strftime('%Y-%m-%d %H:%M UTC')}")
    return page_html(title, sub, body,
                     "Times are elapsed from the traffic's start (m:ss). Shaded bands are its "
                     "phases. Every figure is the twin's prediction: check the chosen policy "
                     "with a real run (loadwatch run, then compare).")

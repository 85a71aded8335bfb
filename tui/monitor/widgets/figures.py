"""The current figures: the last few seconds, the server's latest period, and the run so far.

Figures come from histograms (exact percentiles), not from the chart series. They are rebuilt
only when a record they depend on arrived; the layout flows into as many label/value column
pairs as the panel's height needs, so the same panel reads at 80x24 and on a large terminal.
"""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from metrics import failures, hdr
from metrics.records import (
    CONN_ERROR,
    HTTP_4XX,
    HTTP_5XX,
    LATENCY_OK,
    OTHER,
    THROTTLED,
    TIMEOUT,
    concurrency_target,
    latency_basis,
)
from metrics.stats import Aggregate, error_rate
from metrics.timeline import Timeline
from tui.monitor.widgets.llm_figures import llm_rows
from tui.monitor.widgets.run_figures import cost_rows, load_generator_rows

Row = tuple[str, str]  # (label, value); a label with an empty value heads a section
# The figures kept when the panel is squeezed under the charts (80x24).
# Under the charts a column needs its label and about ten characters of value beside it.
MIN_COLUMN_WIDTH = 24
COMPACT_LABELS = {"target", "sent", "p50/p99 ok", "p50 / p99", "errors", "send lag p99", "requests",
                  "invocations", "model avg/p99", "instances", "TTFT p50/p99", "goodput",
                  "cost", "load gen"}


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _errors(agg: Aggregate) -> str:
    outcomes = agg.outcomes
    parts = [f"{name} {outcomes[key]}" for key, name in (
        (HTTP_4XX, "4xx"), (THROTTLED, "thr"), (HTTP_5XX, "5xx"), (TIMEOUT, "t/o"),
        (CONN_ERROR, "conn"), (OTHER, "other")) if outcomes.get(key)]
    if agg.not_sent:
        parts.append(f"unsent {agg.not_sent}")
    share = f"{100 * error_rate(dict(outcomes), agg.not_sent):.2f} %"
    return f"{share} ({', '.join(parts)})" if parts else share


def _p(histogram: hdr.Histogram, percentile: float) -> str:
    return _ms(hdr.percentile_ms(histogram, percentile))


def client_rows(title: str, agg: Aggregate, per_second: bool = True,
                ok_only: bool = True, concurrency: bool = False) -> list[Row]:
    """Figures of an aggregate, read straight from its histograms.

    ``ok_only``: its latency histograms hold successful requests only (format 2 on); a
    format-1 replay mixed failures in, and its labels drop the "ok". ``concurrency``: the
    target is requests in flight (``load.mode: concurrency``), not a rate.

    Not ``Aggregate.snapshot()``: its mean walks every recorded value in Python (tens of ms
    per histogram), which at once a second was most of the monitor's CPU.
    """
    seconds = max(agg.seconds, 1)
    rows: list[Row] = [(title, "")]
    if per_second:
        target = agg.target / seconds  # a concurrency: "4 in flight" fits the 80-column panel
        rows += [("target", f"{round(target, 1):g} in flight" if concurrency
                  else f"{_rate(target)}/s"),
                 ("sent", f"{_rate(agg.sent / seconds)}/s"),
                 ("completed", f"{_rate(agg.completed / seconds)}/s")]
    else:
        rows += [("requests", f"{agg.sent:,}"),
                 ("achieved", f"{_rate(agg.sent / seconds)}/s")]
    rows += [("p50/p99 ok" if ok_only else "p50 / p99",
              f"{_p(agg.latency, 50)} / {_p(agg.latency, 99)} ms"),
             ("errors", _errors(agg))]
    named = failures.failed_statuses(counts(agg)) + failures.error_codes(counts(agg))
    if named:
        rows.append(("failed as", ", ".join(
            f"{'HTTP ' if name.isdigit() else ''}{name} ×{n:,}" for name, n in named[:2])))
    if agg.failed_latency.get_total_count():
        rows.append(("p50/p99 fail",
                     f"{_p(agg.failed_latency, 50)} / {_p(agg.failed_latency, 99)} ms"))
    if per_second:
        rows += [("service p99", f"{_p(agg.service, 99)} ms"),
                 ("send lag p99", f"{_p(agg.lag, 99)} ms"),
                 ("late", str(agg.late))]
    else:
        rows.append(("max ok" if ok_only else "max", f"{_p(agg.latency, 100)} ms"))
    return rows


def counts(agg: Aggregate) -> dict[str, object]:
    """The counters of an aggregate as ``metrics.failures`` reads them (no histograms)."""
    return {"status": agg.status, "error_codes": agg.errors, "outcomes": agg.outcomes,
            "not_sent": agg.not_sent}


def server_rows(timeline: Timeline) -> list[Row]:
    rows: list[Row] = []
    if timeline.server:
        period = timeline.period or 60
        invocations = timeline.latest_server("Invocations", "Sum")
        per_second = None if invocations is None else invocations / period
        rows += [(f"server, {period} s", ""),
                 ("invocations", f"{_rate(per_second)}/s"),
                 ("model avg/p99", f"{_ms(timeline.latest_server('ModelLatency', 'Average'))} / "
                                   f"{_ms(timeline.latest_server('ModelLatency', 'p99'))} ms"),
                 ("overhead", f"{_ms(timeline.latest_server('OverheadLatency', 'Average'))} ms")]
        errors = [timeline.latest_server(m, "Sum") for m in ("Invocation4XXErrors",
                                                               "Invocation5XXErrors")]
        rows.append(("4XX / 5XX", " / ".join("-" if e is None else f"{e:,.0f}" for e in errors)))
        cpu = timeline.latest_server("CPUUtilization", "Average")
        if cpu is not None:
            rows.append(("CPU", f"{cpu:.0f} %"))
        # High resolution (10 s, queued included): what concurrency target tracking follows.
        per_model = timeline.latest_server("ConcurrentRequestsPerModel", "Average")
        if per_model is not None:
            period = timeline.period_of("ConcurrentRequestsPerModel", "Average")
            rows.append(("conc/model", f"{per_model:,.1f} ({period} s)"))
    if timeline.instances:
        point = timeline.instances[-1]
        rows += [("endpoint", point.status),
                 ("instances", f"{point.current if point.current is not None else '-'}"
                               f" (desired {point.desired if point.desired is not None else '-'})")]
    return rows


class FiguresPanel(Static):
    """Label/value figures in as many columns as the height asks for."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.can_focus = False
        self._signature: tuple[object, ...] | None = None
        self._rows: list[Row] = []
        self.border_title = "now"

    def update_figures(self, timeline: Timeline) -> bool:
        """Rebuild the figures if a record they show arrived; True if they changed."""
        counts = timeline.counts
        signature = (id(timeline), counts["tick"], counts["metric"], counts["endpoint"])
        if signature == self._signature:
            return False
        self._signature = signature
        rows: list[Row] = []
        ok_only = latency_basis(timeline.header) == LATENCY_OK
        if timeline.recent:
            seconds = len(timeline.recent)
            rows += client_rows(f"last {seconds} s", Aggregate().extend(timeline.recent),
                                ok_only=ok_only,
                                concurrency=concurrency_target(timeline.header))
            rows += llm_rows(f"LLM, last {seconds} s", timeline.recent)
        rows += server_rows(timeline)
        if timeline.counts["tick"]:
            rows += client_rows("run so far", timeline.summary.total, per_second=False,
                                ok_only=ok_only)
            rows += load_generator_rows(timeline) + cost_rows(timeline)
        rows = rows or [("waiting for the first second of load", "")]
        # A layout pass costs more than the figures: only when the panel's height may change.
        layout = len(rows) != len(self._rows)
        self._rows = rows
        self.update(self._table(), layout=layout)
        return True

    def on_resize(self) -> None:
        self.reflow(layout=False)

    def reflow(self, layout: bool = True) -> None:
        """Lay the same figures out again (the panel moved under or beside the charts)."""
        if self._rows:
            self.update(self._table(), layout=layout)

    def _table(self) -> Table:
        # Beside the charts the panel grows to fit one column; under them (small terminals)
        # its height is fixed and the rows flow into more columns.
        fixed = self.screen.has_class("-compact")
        rows = [row for row in self._rows if not fixed or not row[1] or row[0] in COMPACT_LABELS]
        height = max(1, self.content_size.height) if fixed else len(rows)
        if fixed:  # only as many columns as can show their values; the rest of the rows wait
            fit = max(1, self.content_size.width // MIN_COLUMN_WIDTH) * height
            if len(rows) > fit:  # the rows come most telling first, but for a load generator
                # that cannot keep up: that verdict qualifies every other figure.
                first = [r for r in rows if r[0] == "load gen" and r[1].startswith("LIMITED")]
                rows = first + [r for r in rows if r not in first][:fit - len(first)]
        columns = max(1, math.ceil(len(rows) / height))
        per_column = math.ceil(len(rows) / columns)
        chunks = [rows[i:i + per_column] for i in range(0, len(rows), per_column)]
        table = Table.grid(padding=(0, 1), expand=fixed)
        for chunk in chunks:  # labels as wide as they need, values share the rest
            label_width = max((len(label) for label, value in chunk if value), default=8)
            table.add_column(style="dim", no_wrap=True, width=label_width)
            # A long value (what failed) is cut, never the labels beside it.
            room = self.content_size.width // columns - label_width - 1
            table.add_column(no_wrap=True, overflow="ellipsis", ratio=1 if fixed else None,
                             max_width=room if room > 8 else None)
        for r in range(per_column):
            cells: list[Text | str] = []
            for chunk in chunks:
                label, value = chunk[r] if r < len(chunk) else ("", "")
                if label and not value:
                    cells += [Text(label, style="bold"), ""]
                else:
                    cells += [label, value]
            cells += [""] * (2 * columns - len(cells))
            table.add_row(*cells)
        return table

"""The serving engine's figures in report and compare: a table per phase, a chart over time
(the engine's requests running and waiting against the client's in flight, KV cache), and
rows in the BEFORE/AFTER comparison. Runs that scraped no engine have none of it.

Figures over a window come from ``metrics.compare.engine_figures``: gauges as mean and peak of
the scrapes, latencies as the mean and the worst scrape interval's p99 (``docs/engine-metrics.md``).
"""

from __future__ import annotations

from html import escape
from typing import Any

from metrics.compare import TOTAL, Comparison, RunAnalysis, engine_figures
from metrics.engine import E2E, KV_CACHE, PREFIX_HITS, RUNNING, TOKENS, TPOT, TTFT, WAITING
from metrics.timeline import downsample
from tui.report.charts import (
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    Chart,
    Line,
    client_series,
    phase_bands,
)
from tui.report.html_parts import charts_html, note_html, table_html
from tui.report.tables import SAME, Section, Table, TableRow, count, ms, rps

ENGINE_NAMES = {"vllm": "vLLM", "tgi": "TGI", "sglang": "SGLang", "triton": "Triton"}
COLUMNS = ["phase", "running mean / max", "waiting mean / max", "KV cache mean / max",
           "prefix hits", "TTFT avg / worst p99 ms", "TPOT avg / worst p99 ms",
           "e2e avg / worst p99 ms", "tokens/s"]
NOTE = ("The engine's own figures, scraped from its Prometheus endpoint: gauges as mean and "
        "peak of the scrapes; its TTFT, TPOT and end-to-end latency as the mean over the "
        "window and the worst scrape interval's p99 (percentiles of intervals do not merge), "
        "from the engine's histogram buckets, so no finer than they are.")


def engine_name(run: RunAnalysis) -> str:
    return ENGINE_NAMES.get(run.timeline.engine_name or "", "the engine")


def _pair(values: dict[str, Any] | None, show: Any = None) -> str:
    if not values:
        return "—"
    show = show or count
    return f"{show(values['mean'])} / {show(values['max'])}"


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} %" if value < 10 else f"{value:.0f} %"


def _latency(values: dict[str, Any] | None) -> str:
    if not values:
        return "—"
    return f"{ms(values['avg_ms'])} / {ms(values['p99_ms_worst'])}"


def _row(name: str, f: dict[str, Any]) -> list[str]:
    prefix = f.get(PREFIX_HITS)
    tokens = f.get(TOKENS)
    return [name, _pair(f.get(RUNNING), _count1), _pair(f.get(WAITING), _count1),
            _pair(f.get(KV_CACHE), _percent), _percent(prefix["mean"]) if prefix else "—",
            _latency(f.get(TTFT)), _latency(f.get(TPOT)), _latency(f.get(E2E)),
            rps(tokens["per_s"]) if tokens else "—"]


def _count1(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def engine_table(run: RunAnalysis) -> Table | None:
    """One row per phase and the whole run; None when the run scraped no engine."""
    total = engine_figures(run, TOTAL)
    if total is None:
        return None
    rows = [_row(w.name, f) for w in run.phases if (f := engine_figures(run, w)) is not None]
    rows.append(_row("whole run", total))
    return Table(COLUMNS, rows)


def engine_chart(run: RunAnalysis) -> list[Chart]:
    """Requests the engine runs and queues against the client's in flight; KV cache use."""
    timeline = run.timeline
    if not timeline.engine:
        return []

    def series(metric: str, stat: str = "Value") -> tuple[list[float], list[float]]:
        xs, ys = timeline.engine_series(metric, stat)
        return list(xs), list(ys)

    requests = [
        Line("client in flight", *client_series(run, "in_flight", "max"), BLUE),
        Line(f"{engine_name(run)} running", *series(RUNNING), GREEN, dots=True),
        Line(f"{engine_name(run)} waiting", *series(WAITING), ORANGE, dots=True),
    ]
    bands = phase_bands(run)
    charts = [Chart("engine-requests", f"Requests: the client's in flight, {engine_name(run)}'s "
                    "running and waiting", "requests", requests, bands=bands,
                    x_end=run.duration, note="engine gauges at each scrape")]
    kv_x, kv_y = series(KV_CACHE)
    if kv_y:
        xs, ys = downsample(kv_x, kv_y, 1)
        charts.append(Chart("engine-kv", f"{engine_name(run)} KV cache in use", "percent",
                            [Line("KV cache %", xs, ys, PURPLE, dots=True)], bands=bands,
                            x_end=run.duration))
    return charts


def engine_html(run: RunAnalysis) -> str:
    """The run's engine section for the HTML report; "" when it scraped no engine."""
    table = engine_table(run)
    if table is None:
        return ""
    return (f"<h3>{escape(engine_name(run))} (the engine's own metrics) per phase</h3>"
            + table_html(table, total_last=True, text_columns=[0]) + note_html(NOTE)
            + charts_html(engine_chart(run)))


# --- compare ---------------------------------------------------------------------------------

FIGURES: list[tuple[str, Any]] = [
    ("engine waiting, mean", lambda f: (f.get(WAITING) or {}).get("mean"), _count1),
    ("engine running, mean", lambda f: (f.get(RUNNING) or {}).get("mean"), _count1),
    ("engine KV cache, peak", lambda f: (f.get(KV_CACHE) or {}).get("max"), _percent),
    ("engine TTFT avg, ms", lambda f: (f.get(TTFT) or {}).get("avg_ms"), ms),
    ("engine tokens/s", lambda f: (f.get(TOKENS) or {}).get("per_s"), rps),
]


def engine_rows(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[TableRow]:
    """The engine figures of one compared window; none when neither run scraped one."""
    if a is None and b is None:
        return []
    rows = []
    for label, get, show in FIGURES:
        va, vb = (get(f) if f is not None else None for f in (a, b))
        if va is None and vb is None:
            continue
        rows.append(TableRow(label, [show(va), show(vb)], "", SAME))
    return rows


def with_engine_rows(sections: list[Section], comparison: Comparison) -> list[Section]:
    """``sections`` (one per compared row) with each window's engine figures added."""
    for section, row in zip(sections, comparison.rows, strict=True):
        section.rows += engine_rows(row.engine_a, row.engine_b)
    return sections


def engine_compare_lines(runs: list[RunAnalysis], width: int = 160) -> list[str]:
    """Each run's engine table as text, for ``loadwatch compare``; [] when none scraped."""
    lines: list[str] = []
    for run in runs:
        table = engine_table(run)
        if table is None:
            continue
        lines += ["", f"{engine_name(run)} figures (the engine's own), {run.label}:"]
        widths = [max(len(str(r[i])) for r in [table.columns, *table.rows])
                  for i in range(len(table.columns))]
        for row in [table.columns, *table.rows]:
            lines.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    if lines:
        lines.append("engine gauges: mean / peak of the scrapes; latencies: mean / worst "
                     "interval's p99, from the engine's histogram buckets")
    return lines

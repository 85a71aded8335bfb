"""The figures as text tables, one model for the terminal, Markdown and HTML.

``comparison_sections`` gives one section per phase (and the total): a row per figure with
both runs' values and how B changed against A. ``phase_table`` gives one run's figures with a
row per phase. Rows that neither run has data for (server figures of a plain HTTP target, say)
are left out, and ``missing_note`` says so once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metrics import failures
from metrics.compare import ON_P99, ON_TTFT, Comparison, Figures, RunAnalysis, Window
from metrics.records import LATENCY_OK
from tui.report.svg import clock

BETTER, WORSE, SAME = 1, -1, 0


@dataclass
class TableRow:
    label: str
    values: list[str]
    change: str = ""
    verdict: int = SAME  # BETTER / WORSE: B against A, for colour


@dataclass
class Section:
    title: str
    subtitle: str
    rows: list[TableRow] = field(default_factory=list)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def rps(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def percent(fraction: float | None) -> str:
    if fraction is None:
        return "—"
    if fraction == 0:
        return "0 %"
    return f"{100 * fraction:.2f} %" if fraction < 0.1 else f"{100 * fraction:.1f} %"


def count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def instances(f: Figures) -> str:
    if f.instances_min is None:
        return "—"
    if f.instances_min == f.instances_max:
        return str(f.instances_min)
    return f"{f.instances_min}–{f.instances_max}"


def breach_to_scale_out(f: Figures) -> str:
    breach = f.first_breach
    if breach is None:
        return "no breach"
    if not f.scaling_recorded:
        return f"breach {clock(breach.elapsed)}, no scaling data"
    if f.scale_out is None:
        return f"never (breach {clock(breach.elapsed)})"
    return (f"{f.breach_to_scale_out_s:.0f} s ({clock(breach.elapsed)} → "
            f"{clock(f.scale_out.elapsed)})")


def window_text(window: Window, run_end: float) -> str:
    if window.index < 0:
        return f"0:00–{clock(run_end)}"
    if window.start >= run_end:
        return "not reached"
    end = min(window.end, run_end) if window.end is not None else run_end
    return f"{clock(window.start)}–{clock(end)}"


def _ratio_change(a: float | None, b: float | None, lower_is_better: bool) -> tuple[str, int]:
    """How B compares with A, in words people read at a glance: "20× lower", "+4.2 %"."""
    if a is None or b is None:
        return "", SAME
    if a == b:
        return "same", SAME
    better = (b < a) == lower_is_better
    verdict = BETTER if better else WORSE
    if a == 0 or b == 0:
        return ("down to 0" if b == 0 else "up from 0"), verdict
    ratio = b / a
    if ratio >= 2:
        return f"{ratio:.1f}× higher", verdict
    if ratio <= 0.5:
        return f"{1 / ratio:.1f}× lower", verdict
    change = 100 * (ratio - 1)
    if abs(change) < 0.05:
        return "same", SAME
    if abs(change) < 2:  # noise on a shared machine; not worth a colour
        verdict = SAME
    return f"{change:+.1f} %", verdict


def _difference(a: float | None, b: float | None, unit: str,
                lower_is_better: bool) -> tuple[str, int]:
    if a is None or b is None:
        return "", SAME
    if a == b:
        return "same", SAME
    return f"{b - a:+,.0f}{unit}", BETTER if (b < a) == lower_is_better else WORSE


# One figure: label, how to read it from Figures, how to print it, how to compare two.
@dataclass(frozen=True)
class _Figure:
    label: str
    get: Callable[[Figures], float | None]
    show: Callable[[Figures], str]
    compare: Callable[[float | None, float | None], tuple[str, int]] | None = None
    server: bool = False  # from CloudWatch / the endpoint, absent for plain HTTP targets


def _lower(a: float | None, b: float | None) -> tuple[str, int]:
    return _ratio_change(a, b, True)


def _higher(a: float | None, b: float | None) -> tuple[str, int]:
    return _ratio_change(a, b, False)


def _fewer_seconds(a: float | None, b: float | None) -> tuple[str, int]:
    return _difference(a, b, " s", True)


def _neutral(a: float | None, b: float | None) -> tuple[str, int]:
    """The change in words, uncoloured: a higher rate is not better when more of it failed."""
    return _ratio_change(a, b, False)[0], SAME


def basis_label(runs: list[RunAnalysis]) -> str:
    """What latency rows cover: "ok", or "all requests" for older recordings."""
    bases = list(dict.fromkeys(run.latency_basis for run in runs))
    if len(bases) == 1:
        return bases[0]
    return " / ".join(f"{run.label}: {run.latency_basis}" for run in runs)


def over_label(runs: list[RunAnalysis]) -> str:
    """The "seconds over" row's label: "seconds with p99 over 100 ms", "seconds TTFT p99 > 500
    ms" (streaming runs), or "seconds over own objective" when they are on different figures
    (a note says what each is)."""
    kinds = {run.slo_on for run in runs}
    if len(kinds) > 1:
        return "seconds over own objective"
    if kinds == {ON_TTFT}:  # short: the terminal cuts labels at 30 characters
        return f"seconds TTFT p99 > {runs[0].slo_ms:g} ms"
    return f"seconds with p99 over {runs[0].slo_ms:g} ms"


def figure_rows(slo_ms: float, basis: str = LATENCY_OK, over: str = "") -> list[_Figure]:
    """The compared figures. Error rates and latency of successful requests decide what is
    better; rates are shown with their change but never coloured as better or worse.
    ``over`` names the seconds-over-objective row (``over_label``)."""
    return [
        _Figure("offered load, req/s", lambda f: f.offered_rps, lambda f: rps(f.offered_rps)),
        _Figure("achieved send rate, req/s", lambda f: f.achieved_rps,
                lambda f: rps(f.achieved_rps), _neutral),
        _Figure("completed, req/s", lambda f: f.completed_rps, lambda f: rps(f.completed_rps),
                _neutral),
        _Figure("successful (ok), req/s", lambda f: f.ok_rps, lambda f: rps(f.ok_rps),
                _neutral),
        _Figure(f"client p50 ({basis}), ms", lambda f: f.p50_ms, lambda f: ms(f.p50_ms), _lower),
        _Figure(f"client p95 ({basis}), ms", lambda f: f.p95_ms, lambda f: ms(f.p95_ms), _lower),
        _Figure(f"client p99 ({basis}), ms", lambda f: f.p99_ms, lambda f: ms(f.p99_ms), _lower),
        _Figure("client p50 (failed), ms", lambda f: f.failed_p50_ms,
                lambda f: ms(f.failed_p50_ms), _neutral),
        _Figure("client p99 (failed), ms", lambda f: f.failed_p99_ms,
                lambda f: ms(f.failed_p99_ms), _neutral),
        _Figure("ModelLatency avg, ms", lambda f: f.model_latency_avg_ms,
                lambda f: ms(f.model_latency_avg_ms), _lower, server=True),
        _Figure("ModelLatency p99 worst, ms", lambda f: f.model_latency_p99_ms,
                lambda f: ms(f.model_latency_p99_ms), _lower, server=True),
        _Figure("error rate", lambda f: f.error_rate, lambda f: percent(f.error_rate), _lower),
        _Figure("errors 4xx", lambda f: f.rate_4xx, lambda f: percent(f.rate_4xx), _lower),
        _Figure("errors 5xx", lambda f: f.rate_5xx, lambda f: percent(f.rate_5xx), _lower),
        _Figure("errors, other kinds", lambda f: f.rate_other,
                lambda f: percent(f.rate_other), _lower),
        _Figure("failed as", lambda f: float(sum(f.outcomes.values()) - f.outcomes.get("ok", 0))
                or None, failed_as),
        _Figure("interrupted by the stop (not errors)", lambda f: float(f.interrupted) or None,
                lambda f: count(f.interrupted), _neutral),
        _Figure("server 4XX / 5XX errors", lambda f: _server_errors(f),
                lambda f: f"{count(f.server_4xx)} / {count(f.server_5xx)}", server=True),
        _Figure("instances (min–max)", lambda f: f.instances_max, instances, server=True),
        _Figure("first breach → scale-out", lambda f: f.breach_to_scale_out_s,
                breach_to_scale_out),
        _Figure(over or f"seconds with p99 over {slo_ms:g} ms", lambda f: float(f.seconds_over_slo),
                lambda f: f"{f.seconds_over_slo} s", _fewer_seconds),
    ]


def failed_as(f: Figures, limit: int = 3) -> str:
    """The failed statuses and error codes of a window, with counts: "HTTP 404 ×1,485"."""
    named = [(f"HTTP {code}", n) for code, n in failures.failed_statuses(f.failures)]
    named += failures.error_codes(f.failures)
    if not named:
        return "—"
    shown = ", ".join(f"{name} ×{n:,}" for name, n in named[:limit])
    return shown + (f", {len(named) - limit} more" if len(named) > limit else "")


def run_verdict(a: Figures, b: Figures, llm_a: dict[str, Any] | None = None,
                llm_b: dict[str, Any] | None = None) -> tuple[str, int]:
    """Which run did better, decided by error rate first, then p99 of successful requests.

    A run that sent 9× more but lost 12 % of it is not better than a clean one. When both
    runs streamed, goodput and then TTFT p99 decide after errors: a stream's whole-request
    latency follows its length, not the endpoint's health.
    """
    if abs(a.error_rate - b.error_rate) >= max(0.001, 0.1 * min(a.error_rate, b.error_rate)):
        worse = b.error_rate > a.error_rate
        return (f"B {'worse' if worse else 'better'}: error rate {percent(a.error_rate)} → "
                f"{percent(b.error_rate)}", WORSE if worse else BETTER)
    if llm_a is not None and llm_b is not None:
        return _stream_verdict(llm_a, llm_b)
    change, decided = _lower(a.p99_ms, b.p99_ms)
    if a.p99_ms is None or b.p99_ms is None or decided == SAME:
        return "no clear difference in errors or p99", SAME
    return (f"B {'better' if decided == BETTER else 'worse'}: p99 {ms(a.p99_ms)} → "
            f"{ms(b.p99_ms)} ms ({change})", decided)


def _stream_verdict(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, int]:
    """Two streaming runs with the same error rate: goodput (1 point apart), then TTFT p99."""
    ga, gb = a.get("goodput_pct"), b.get("goodput_pct")
    if ga is not None and gb is not None and abs(ga - gb) >= 1.0:
        better = gb > ga
        return (f"B {'better' if better else 'worse'}: goodput {ga:.1f} % → {gb:.1f} %",
                BETTER if better else WORSE)
    ta, tb = (run.get("ttft_ms", {}).get("p99") for run in (a, b))
    change, decided = _lower(ta, tb)
    if ta is None or tb is None or decided == SAME:
        return "no clear difference in errors, goodput or TTFT p99", SAME
    return (f"B {'better' if decided == BETTER else 'worse'}: TTFT p99 {ms(ta)} → {ms(tb)} ms "
            f"({change})", decided)


def _server_errors(f: Figures) -> float | None:
    if f.server_4xx is None and f.server_5xx is None:
        return None
    return (f.server_4xx or 0) + (f.server_5xx or 0)


def _has(figures: list[Figures | None], figure: _Figure) -> bool:
    if figure.label.startswith("first breach"):
        return any(f is not None and f.first_breach is not None for f in figures)
    return any(f is not None and figure.get(f) is not None for f in figures)


def comparison_sections(comparison: Comparison) -> list[Section]:
    """One section per compared phase, then the total: figure, A, B, change."""
    a, b = comparison.runs
    slo = a.slo_ms
    basis = basis_label([a, b])
    sections = []
    for row in comparison.rows:
        window = row.a.window if row.a else row.b.window if row.b else None
        ends = []
        for run, figures in ((a, row.a), (b, row.b)):
            if figures is not None:
                ends.append(window_text(figures.window, run.duration))
        subtitle = ends[0] if len(set(ends)) == 1 else " vs ".join(ends)
        title = "whole run" if window is not None and window.index < 0 else f"phase “{row.name}”"
        section = Section(title, subtitle)
        if row.a is not None and row.b is not None:
            text, decided = run_verdict(row.a, row.b, row.llm_a, row.llm_b)
            how = ("errors/goodput/TTFT" if row.llm_a is not None and row.llm_b is not None
                   else "errors, then p99 ok")
            section.rows.append(TableRow(f"verdict ({how})", ["", ""], text, decided))
        for figure in figure_rows(slo, basis, over_label([a, b])):
            if not _has([row.a, row.b], figure):
                continue
            values = [figure.show(f) if f is not None else "—" for f in (row.a, row.b)]
            change, verdict = "", SAME
            if figure.compare and row.a is not None and row.b is not None:
                change, verdict = figure.compare(figure.get(row.a), figure.get(row.b))
            section.rows.append(TableRow(figure.label, values, change, verdict))
        section.rows += llm_rows(row.llm_a, row.llm_b)
        if window is not None and window.index < 0:
            section.rows += whole_run_rows(a, b)
        sections.append(section)
    return sections


# --- what the run cost, and whether the load generator kept up (issue 23) ------------------


def usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}" if value < 0.1 else f"${value:,.2f}"


def load_generator(run: RunAnalysis) -> str:
    """``kept up`` or its verdict's reasons; "—" for a recording whose workers did not measure
    themselves (before issue 23)."""
    load = run.timeline.client_load
    if not load.measured_seconds:
        return "—"
    result = load.result()
    if not result["limited"]:
        return "kept up"
    return "LIMITED: " + str(result["message"]).removeprefix("limited by the load generator: ")


def whole_run_rows(a: RunAnalysis, b: RunAnalysis) -> list[TableRow]:
    """Cost (when either run was priced) and the load generator's verdict, for the total."""
    rows = []
    costs = [run.timeline.cost.result() for run in (a, b)]
    if any(costs):
        for label, key in (("cost, USD", "usd"), ("cost per hour at the end", "usd_per_hour_now"),
                           ("cost per million ok requests", "usd_per_million_ok"),
                           ("cost per million output tokens", "usd_per_million_output_tokens")):
            values = [None if c is None else c.get(key) for c in costs]
            if all(v is None for v in values):
                continue
            change, verdict = _lower(*values) if key.startswith("usd_per_m") else ("", SAME)
            rows.append(TableRow(label, [usd(v) for v in values], change, verdict))
    shown = [load_generator(run) for run in (a, b)]
    if any(text != "—" for text in shown):
        rows.append(TableRow("load generator", shown))
    return rows


def _points(a: float | None, b: float | None) -> tuple[str, int]:
    """Goodput shares differ in percentage points: "+12.0 pts" (a ratio of shares misleads)."""
    if a is None or b is None:
        return "", SAME
    if abs(b - a) < 0.05:
        return "same", SAME
    return f"{b - a:+.1f} pts", (BETTER if b > a else WORSE) if abs(b - a) >= 0.5 else SAME


def goodput(pct: float | None) -> str:
    return "—" if pct is None else f"{pct:.1f} %"


# Streaming LLM runs: (label, read from an LlmAggregate snapshot, show, compare).
LLM_FIGURES: list[tuple[str, Callable[[dict[str, Any]], float | None], Callable[
    [float | None], str], Callable[[float | None, float | None], tuple[str, int]]]] = [
    ("LLM TTFT p99, ms", lambda s: s["ttft_ms"]["p99"], ms, _lower),
    ("LLM TPOT p99, ms", lambda s: s["tpot_ms"]["p99"], ms, _lower),
    ("LLM output tokens/s", lambda s: s["output_tokens_per_s"], rps, _neutral),
    ("LLM goodput", lambda s: s["goodput_pct"], goodput, _points),
]


def llm_rows(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[TableRow]:
    """The LLM figures of one compared window; none when neither run streamed."""
    if a is None and b is None:
        return []
    rows = []
    for label, get, show, compare in LLM_FIGURES:
        va, vb = (get(s) if s is not None else None for s in (a, b))
        change, verdict = compare(va, vb) if a is not None and b is not None else ("", SAME)
        rows.append(TableRow(label, [show(va), show(vb)], change, verdict))
    return rows


def missing_note(runs: list[RunAnalysis]) -> str:
    """Say once which kinds of figure are absent, so an empty row is not a mystery."""
    absent = [run.label for run in runs if not run.timeline.server]
    if not absent:
        return ""
    who = " and ".join(absent)
    return (f"no server metrics in {who} (a plain HTTP target, or metrics polling was off): "
            "server rows are left out or show —")


def phase_columns(basis: str, on: str = ON_P99) -> list[str]:
    ok = "ok" if basis == LATENCY_OK else "all"
    return ["phase", "time", "secs", "offered/s", "sent/s", "ok/s", "requests",
            f"p50 {ok} ms", f"p95 {ok} ms", f"p99 {ok} ms", f"max {ok} ms", "p99 fail ms",
            "4xx", "5xx", "other err", "failed as", "ModelLatency avg ms", "instances",
            "secs TTFT p99 > objective" if on == ON_TTFT else "secs p99 > objective"]


def phase_table(run: RunAnalysis) -> Table:
    """One run's figures: a row per phase, then the whole run."""
    rows = []
    for window in [*run.phases, None]:
        f = run.figures(window) if window is not None else run.figures()
        rows.append([
            "whole run" if window is None else window.name,
            window_text(f.window, run.duration),
            str(f.seconds), rps(f.offered_rps), rps(f.achieved_rps), rps(f.ok_rps),
            f"{f.requests:,}", ms(f.p50_ms), ms(f.p95_ms), ms(f.p99_ms), ms(f.max_ms),
            ms(f.failed_p99_ms), percent(f.rate_4xx), percent(f.rate_5xx),
            percent(f.rate_other), failed_as(f, 2), ms(f.model_latency_avg_ms), instances(f),
            f"{f.seconds_over_slo} s",
        ])
    columns = phase_columns(run.latency_basis, run.slo_on)
    # Columns nobody has data for (server figures of an HTTP target) only take room.
    keep = [i for i in range(len(columns)) if any(row[i] != "—" for row in rows)]
    return Table([columns[i] for i in keep], [[row[i] for i in keep] for row in rows])


def ensure_table(run: RunAnalysis) -> tuple[Table, bool]:
    """The run's ensure checks and whether they were recomputed from a cut recording."""
    checks, recomputed = run.ensure_results()
    rows = []
    for check in checks:
        unit = str(check.get("unit", "")).strip()
        actual = check.get("actual")
        rows.append([
            str(check.get("name")),
            f"{check.get('limit'):g} {unit}".strip(),
            "n/a" if actual is None else f"{actual:.3g} {unit}".strip(),
            "ok" if check.get("ok") else "FAILED",
        ])
    return Table(["check", "limit", "actual", "result"], rows), recomputed


def run_items(run: RunAnalysis) -> list[tuple[str, str]]:
    """One run's cost and load-generator verdict, as a report's metadata lists them."""
    items = []
    if (shown := load_generator(run)) != "—":
        items.append(("load generator", shown))
    cost = run.timeline.cost.result()
    if cost is not None:
        per = [f"{usd(cost['usd_per_million_ok'])} per million ok requests"]
        if cost["usd_per_million_output_tokens"] is not None:
            per.append(f"{usd(cost['usd_per_million_output_tokens'])} per million output "
                       "tokens")
        items.append(("cost", f"{usd(cost['usd'])} ({', '.join(per)}; "
                              f"{usd(cost['usd_per_hour_now'])}/hour at the end)"))
        items.append(("prices", "; ".join(
            f"{name} ${row.get('usd_per_hour')}/h ({row.get('source')}, {row.get('date')})"
            for name, row in sorted(cost["prices"].items()))))
    return items

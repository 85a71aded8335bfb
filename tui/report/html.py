"""One self-contained HTML report: inline CSS, inline SVG, no script, nothing fetched.

``report_html(runs, comparison)`` returns the document. Sections: a title and the key figures,
warnings (a cut recording says so at the top), the comparison (two runs: per-phase table and
overlaid charts), then each run's metadata, plan, ensure results, per-phase summary, every
chart, and its events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

import driver
from driver.pool import describe_source
from metrics import failures
from metrics.compare import ON_TTFT, TOTAL, Comparison, RunAnalysis, llm_summary
from metrics.records import Event, ScalingActivity, concurrency_target
from metrics.scaling_target import recorded_target, tracks_concurrency
from tui.report import charts as chart_specs
from tui.report import svg, tables
from tui.report.capacity_section import capacity_html
from tui.report.cold_start_section import cold_start_html
from tui.report.engine_section import engine_html, with_engine_rows
from tui.report.html_parts import cards_html, charts_html, page_html, pair, table_html
from tui.report.llm_section import llm_cards_html, llm_comparison_cards, llm_table_html
from tui.report.overlay import overlay_charts
from tui.report.tables import BETTER, WORSE, Table

MAX_EVENTS = 400



def _duration(seconds: float) -> str:
    return f"{svg.clock(seconds)} ({seconds:,.0f} s)"


def _started(run: RunAnalysis) -> str:
    try:
        when = datetime.fromisoformat(run.header.started_at)
    except (TypeError, ValueError):
        return str(run.header.started_at)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _metadata(run: RunAnalysis) -> str:
    header, footer = run.header, run.footer
    meta = header.meta if isinstance(header.meta, dict) else {}
    load = meta.get("load") if isinstance(meta.get("load"), dict) else {}
    items: list[tuple[str, str]] = [
        ("recording", str(run.recording.path)),
        ("target", header.target),
        ("started", _started(run)),
        ("duration recorded", _duration(run.duration)),
        ("ended", f"{footer.reason} (exit code {footer.exit_code})" if footer
         else "no footer: the recording was cut short"),
        ("profile", header.profile_path or "—"),
        ("load workers", str(header.workers)),
    ]
    if isinstance(meta.get("load_source"), dict):
        items.append(("load from", describe_source(meta["load_source"])))
    if load:
        items.append(("arrivals", f"{load.get('arrivals', '?')}, timeout "
                      f"{load.get('timeout', '?')} s, in-flight cap "
                      f"{load.get('max_in_flight', '?')} per worker"))
    items.append(("latency objective", run.slo_text if run.slo_on == ON_TTFT
                  else f"p99 ≤ {run.slo_ms:g} ms ({run.slo_source})"))
    if run.scaling_target:
        items.append(("scaling target", f"{run.scaling_target:,.0f} InvocationsPerInstance "
                      "per minute"))
    elif recorded := recorded_target(run.recording):  # in its own unit (per copy, say)
        items.append(("scaling target", f"{recorded[0]:g} {recorded[1]} ({recorded[2]})"))
    elif concurrency := _concurrency_target(run):
        items.append(("scaling target", f"{concurrency:g} requests in flight per model copy "
                      "(ConcurrentRequestsPerModel)"))
    if run.timeline.period:
        items.append(("server metric period", f"{run.timeline.period} s"))
    items += tables.run_items(run)
    items.append(("written by", f"loadwatch {header.tool_version} (format {header.format})"))
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<dl class="meta">{body}</dl>'


def _concurrency_target(run: RunAnalysis) -> float | None:
    """The profile's target when its target tracking is on requests in flight."""
    if not tracks_concurrency(run.recording):
        return None
    scaling = run.header.profile.get("scaling") if isinstance(run.header.profile, dict) else None
    target = scaling.get("target") if isinstance(scaling, dict) else None
    return float(target) if isinstance(target, int | float) and target > 0 else None


def _plan(run: RunAnalysis) -> str:
    meta = run.header.meta if isinstance(run.header.meta, dict) else {}
    plan = meta.get("plan")
    if not isinstance(plan, list) or not plan:
        return ""
    if meta.get("steered_by"):  # its one long phase is an upper bound, not a plan
        return (f'<p class="note">The rate was set by {escape(str(meta["steered_by"]))}, '
                "step by step (see Capacity search below).</p>")
    rows = []
    for i, phase in enumerate(plan, start=1):
        if not isinstance(phase, dict):
            continue
        start, end = phase.get("rate_start"), phase.get("rate_end")
        rate = "pause" if phase.get("pause") else (
            f"{start:g}" if start == end else f"{start:g} → {end:g}")
        rows.append([str(i), str(phase.get("name", "")), svg.clock(phase.get("start", 0)),
                     svg.clock(phase.get("duration", 0)), rate,
                     f"{phase.get('requests', 0):,.0f}"])
    rate_head = "in flight" if concurrency_target(run.header) else "rate req/s"
    return table_html(Table(["#", "phase", "start", "duration", rate_head, "requests"], rows),
                  text_columns=[1])


def _ensure(run: RunAnalysis) -> str:
    table, recomputed = tables.ensure_table(run)
    if not table.rows:
        return '<p class="note">The profile sets no ensure checks.</p>'
    html = table_html(table).replace("<td>ok</td>", '<td class="ok">ok</td>').replace(
        "<td>FAILED</td>", '<td class="failed">FAILED</td>')
    if recomputed:
        html += ('<p class="note">Recomputed from the recorded seconds: the recording has no '
                 "footer, so the run's own verdict was never written.</p>")
    return html


def _events(run: RunAnalysis) -> str:
    rows: list[tuple[float, list[str]]] = []
    for event in run.timeline.events:
        if isinstance(event, Event):
            rows.append((event.elapsed, [svg.clock(event.elapsed), event.source,
                                         event.name.replace("_", " "), event.message]))
    for x, activity in run.timeline.activity_marks():
        rows.append((x, [svg.clock(x), "scaling activity", activity.status,
                         _activity_text(activity)]))
    rows.sort(key=lambda r: r[0])
    shown = [r for _, r in rows[:MAX_EVENTS]]
    more = (f'<p class="note">{len(rows) - MAX_EVENTS} more events are in the recording.</p>'
            if len(rows) > MAX_EVENTS else "")
    if not shown:
        return '<p class="note">No events recorded.</p>'
    return table_html(Table(["time", "source", "event", "message"], shown),
                  text_columns=[3]) + more


def _activity_text(activity: ScalingActivity) -> str:
    return " — ".join(p for p in (activity.description, activity.cause,
                                  activity.status_message) if p)


def _run_cards(run: RunAnalysis, llm: dict[str, Any] | None) -> str:
    f = run.figures(TOTAL)
    return cards_html([
        ("achieved send rate", f"{tables.rps(f.achieved_rps)} <small>req/s</small>",
         f"target {tables.rps(f.offered_rps)} in flight" if concurrency_target(run.header)
         else f"offered {tables.rps(f.offered_rps)} req/s"),
        (f"client latency p99 ({run.latency_basis})", f"{tables.ms(f.p99_ms)} <small>ms</small>",
         f"p50 {tables.ms(f.p50_ms)} ms, p95 {tables.ms(f.p95_ms)} ms; failed requests p99 "
         f"{tables.ms(f.failed_p99_ms)} ms"),
        ("successful", f"{tables.rps(f.ok_rps)} <small>req/s</small>",
         f"completed {tables.rps(f.completed_rps)} req/s"),
        ("errors", escape(tables.percent(f.error_rate)),
         escape(tables.failed_as(f)) if f.error_rate else
         f"4xx {tables.percent(f.rate_4xx)}, 5xx {tables.percent(f.rate_5xx)}, other "
         f"{tables.percent(f.rate_other)}"),
        (_over_title([run]), f"{f.seconds_over_slo} <small>s</small>", _objective([run])),
        *_scaling_cards(run.scaling_recorded, [
            ("instances", escape(tables.instances(f)), "min–max seen"),
            ("first breach → scale-out", escape(tables.breach_to_scale_out(f)),
             f.first_breach.detail if f.first_breach else ""),
        ]),
    ]) + (llm_cards_html(run, llm) if llm is not None else "")


def _over_title(runs: list[RunAnalysis]) -> str:
    kinds = {run.slo_on for run in runs}
    if kinds == {ON_TTFT}:
        return "seconds with TTFT p99 over objective"
    return "seconds with p99 over objective" if len(kinds) == 1 else "seconds over objective"


def _objective(runs: list[RunAnalysis]) -> str:
    """The card's note: "objective 100 ms" as before, or what a streaming run's is on."""
    a = runs[0]
    if all(run.slo_on != ON_TTFT for run in runs):
        return f"objective {a.slo_ms:g} ms"
    if len({run.slo_on for run in runs}) == 1:
        return f"objective {a.slo_subject} ≤ {a.slo_ms:g} ms ({a.slo_source})"
    return "; ".join(f"{run.label}: {run.slo_subject} ≤ {run.slo_ms:g} ms" for run in runs)


def _scaling_cards(recorded: bool, cards: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Instances and scale-out cards only where the endpoint was watched (not plain HTTP)."""
    return cards if recorded else []


def _comparison_cards(comparison: Comparison) -> str:
    a, b = comparison.runs
    fa, fb = a.figures(TOTAL), b.figures(TOTAL)

    return cards_html([
        (f"client latency p99 ({tables.basis_label([a, b])}), ms",
         pair(tables.ms(fa.p99_ms), tables.ms(fb.p99_ms)), f"{a.label} → {b.label}"),
        ("errors", pair(tables.percent(fa.error_rate), tables.percent(fb.error_rate)),
         "of all requests"),
        ("successful, req/s", pair(tables.rps(fa.ok_rps), tables.rps(fb.ok_rps)), ""),
        (_over_title([a, b]), pair(f"{fa.seconds_over_slo} s", f"{fb.seconds_over_slo} s"),
         _objective([a, b])),
        ("achieved send rate, req/s", pair(tables.rps(fa.achieved_rps),
                                           tables.rps(fb.achieved_rps)), ""),
        *_scaling_cards(a.scaling_recorded or b.scaling_recorded, [
            ("instances", pair(tables.instances(fa), tables.instances(fb)), "min–max seen"),
            ("first breach → scale-out", pair(_short_breach(fa), _short_breach(fb)),
             "from the first breach to the first scale-out"),
        ]),
        *llm_comparison_cards(comparison),
    ])


def _short_breach(f: Any) -> str:
    if f.first_breach is None:
        return "no breach"
    if f.scale_out is None:
        return "never"
    return f"{f.breach_to_scale_out_s:.0f} s"


def _comparison(comparison: Comparison) -> str:
    a, b = comparison.runs
    parts = [f'<section id="comparison"><h2>{escape(a.label)} vs {escape(b.label)}</h2>',
             f'<p class="sub">Aligned by {"phase" if comparison.by == "phase" else "elapsed time"}'
             f"; change is {escape(b.label)} against {escape(a.label)} (green: better, red: "
             "worse).</p>",
             _comparison_cards(comparison)]
    for note in [*comparison.notes, tables.missing_note(list(comparison.runs))]:
        if note:
            parts.append(f'<p class="note">{escape(note)}</p>')
    parts.append(_comparison_table(comparison))
    parts.append("<h3>Both runs over time</h3>")
    parts.append(charts_html(overlay_charts(comparison)))
    parts.append("</section>")
    return "".join(parts)


def _comparison_table(comparison: Comparison) -> str:
    """One table: a row per figure, a column group (A, B, change) per phase."""
    a, b = comparison.runs
    sections = with_engine_rows(tables.comparison_sections(comparison), comparison)
    # The whole run first: at laptop width the later column groups may need a scroll.
    sections = sections[-1:] + sections[:-1]
    labels: list[str] = []
    for section in sections:
        for row in section.rows:
            if row.label not in labels:
                labels.append(row.label)
    groups = "".join(f'<th class="group first" colspan="3">{escape(s.title)}<br>'
                     f'<span class="sub">{escape(s.subtitle)}</span></th>' for s in sections)
    names = "".join(f'<th class="first">{escape(a.label)}</th><th>{escape(b.label)}</th>'
                    "<th>change</th>" for _ in sections)
    body = []
    for label in labels:
        cells = []
        for section in sections:
            row = next((r for r in section.rows if r.label == label), None)
            if row is None:
                cells.append('<td class="first">—</td><td>—</td><td></td>')
                continue
            cls = {BETTER: "better", WORSE: "worse"}.get(row.verdict, "")
            cells.append(f'<td class="first{_long(row.values[0])}">{escape(row.values[0])}</td>'
                         f'<td class="{_long(row.values[1])}">{escape(row.values[1])}</td>'
                         f'<td class="{cls}">{escape(row.change)}</td>')
        body.append(f'<tr><td class="text">{escape(label)}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="comparison"><thead><tr><th></th>{groups}</tr>'
            f'<tr><th class="text">figure</th>{names}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _long(text: str) -> str:
    """A class that lets a long value (the breach to scale-out text) wrap in its cell."""
    return " long" if len(text) > 14 else ""


def _phase_table_html(run: RunAnalysis) -> str:
    """The per-phase table, narrow enough for a 1280 px window: its "failed as" names wrap
    (the rest of its 19 columns are numbers) and its cells are set tighter."""
    table = tables.phase_table(run)
    wrapped = [i for i, c in enumerate(table.columns) if c == "failed as"]
    return table_html(table, total_last=True, text_columns=[0, *wrapped], css_class="phases")


def _server_said(run: RunAnalysis) -> str:
    """What failed over the whole run, with the server's first words for each (empty if
    nothing failed)."""
    lines = failures.describe(run.figures().failures, messages=run.server_messages())
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<h3>What failed, in the server\'s words</h3><ul class="said">{items}</ul>'


def _interrupted_note(run: RunAnalysis) -> str:
    """What the operator's stop cut, counted apart from the errors (empty if nothing)."""
    n = run.figures().interrupted
    if not n:
        return ""
    return (f" {n:,} request{'s were' if n != 1 else ' was'} in flight when the run was "
            "stopped: counted as interrupted, not as errors, and left out of the shares.")


def _run_section(run: RunAnalysis, index: int, of: int) -> str:
    heading = f"Run {'AB'[index]}: {run.label}" if of > 1 else f"Run: {run.label}"
    reason = run.failure_reason()
    llm = llm_summary(run)  # streaming LLM runs only
    return (f'<section class="run" id="run-{index + 1}"><h2>{escape(heading)}</h2>'
            + (f'<div class="warnings" role="alert"><strong>{escape(reason)}</strong></div>'
               if reason else "")
            + ("" if of > 1 else _run_cards(run, llm))
            + "<h3>Metadata</h3>" + _metadata(run)
            + "<h3>Plan</h3>" + _plan(run)
            + capacity_html(run)
            + cold_start_html(run)
            + "<h3>Ensure</h3>" + _ensure(run)
            + "<h3>Summary per phase</h3>"
            + _phase_table_html(run)
            + '<p class="note">Client latency in ms from each request\'s intended send time '
              "(coordinated omission corrected), percentiles from merged HDR histograms; "
              + ("“ok” columns: successful requests only, “p99 fail”: the failed ones; "
                 if run.latency_basis == "ok" else
                 "this recording predates format 2: its latency covers all requests, "
                 "failed ones included; ")
              +
              "ModelLatency average weighted by each period's invocations. Errors are shares "
              "of all requests; other kinds = timeouts, connection errors, throttled and not "
              "sent."
              + _interrupted_note(run) +
              "</p>"
            + _server_said(run)
            + llm_table_html(run, llm)
            + engine_html(run)  # runs that scraped their serving engine
            + "<h3>Over time</h3>" + charts_html(chart_specs.run_charts(run))
            + "<h3>Events</h3>" + _events(run)
            + "</section>")


def report_html(runs: list[RunAnalysis], comparison: Comparison | None = None,
                generated: datetime | None = None) -> str:
    """The whole report for one run, or two runs and their comparison."""
    generated = generated or datetime.now(UTC)
    if comparison is not None:
        title = f"loadwatch report: {comparison.a.label} vs {comparison.b.label}"
    else:
        title = f"loadwatch report: {runs[0].label}"
    targets = sorted({r.header.target for r in runs})
    warnings = [w for run in runs for w in run.warnings]
    parts = []
    if warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
        parts.append(f'<div class="warnings" role="alert"><strong>Read with care:</strong>'
                     f"<ul>{items}</ul></div>")
    if comparison is not None:
        parts.append(_comparison(comparison))
    for i, run in enumerate(runs):
        parts.append(_run_section(run, i, len(runs)))
    sub = (f"Target {', '.join(targets)} · {len(runs)} recording{'s' if len(runs) > 1 else ''}"
           f" · generated {generated.strftime('%Y-%m-%d %H:%M UTC')} by loadwatch "
           f"{driver.__version__}")
    return page_html(title, sub, "\n".join(parts),
                     "Times are elapsed from each session's start (m:ss). Server metrics are "
                     "CloudWatch periods drawn at their start. Shaded bands are the profile's "
                     "phases.")

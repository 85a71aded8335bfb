"""The comparison in a terminal (aligned text, plotext charts) and as Markdown.

plotext cannot dash a line, so a dashed or dotted series is drawn in a paler shade of its
colour; server datapoints are dots. Colour is used only when the output is a terminal.
"""

from __future__ import annotations

import math
import textwrap

from metrics.compare import ON_TTFT, Comparison, RunAnalysis, llm_summary
from tui.report import tables
from tui.report.charts import DASHED, DOTTED, Chart
from tui.report.engine_section import with_engine_rows
from tui.report.llm_section import TTFT_NOTE, estimated_note, llm_table
from tui.report.svg import clock, nice_step, number
from tui.report.tables import BETTER, WORSE, Section, Table

GREEN, RED, BOLD, DIM, RESET = "\x1b[32m", "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"
LABEL_WIDTH = 30
FOOTNOTE = ("Client latency is measured from each request's intended send time (coordinated "
            "omission corrected); percentiles come from merged HDR histograms. Errors are "
            "shares of all requests; other kinds = timeouts, connection errors, throttled and "
            "not sent. ModelLatency p99 worst = the highest per-period p99 (periods cannot be "
            "merged).")


def objective_text(comparison: Comparison) -> str:
    """"client p99 (ok) ≤ 100 ms (default)", "TTFT p99 ≤ 500 ms (the profile's llm.slo.ttft)"
    when both runs streamed, or each run's when one streamed and the other did not."""
    a, b = comparison.runs
    if a.slo_on != b.slo_on:
        return "; ".join(f"{run.label} {run.slo_text}" for run in (a, b))
    if a.slo_on == ON_TTFT:
        return a.slo_text
    return f"client p99 ({tables.basis_label([a, b])}) ≤ {a.slo_ms:g} ms ({a.slo_source})"


def header_lines(comparison: Comparison) -> list[str]:
    a, b = comparison.runs
    by = "phase (phases matched by name)" if comparison.by == "phase" else "elapsed time"
    lines = [f"{a.label} (A) vs {b.label} (B), aligned by {by}",
             f"A: {a.recording.path}", f"   {a.header.target}, {clock(a.duration)} recorded",
             f"B: {b.recording.path}", f"   {b.header.target}, {clock(b.duration)} recorded",
             f"latency objective: {objective_text(comparison)}"]
    if a.scaling_target:
        lines.append(f"scaling target: {a.scaling_target:,.0f} invocations per instance per "
                     "minute")
    lines += [f"note: {n}" for n in comparison.notes]
    note = tables.missing_note(list(comparison.runs))
    if note:
        lines.append(f"note: {note}")
    return lines


def _verdict(text: str, verdict: int, color: bool) -> str:
    if not color or verdict not in (BETTER, WORSE):
        return text
    return f"{GREEN if verdict == BETTER else RED}{text}{RESET}"


def text_tables(comparison: Comparison, color: bool = False, width: int = 100) -> str:
    """Side-by-side figures per phase, aligned for a terminal of 80 columns or more."""
    a, b = comparison.runs
    sections = with_engine_rows(tables.comparison_sections(comparison), comparison)
    widths = [max(len(a.label), len(b.label), *(len(r.values[i]) for s in sections
                                                  for r in s.rows)) for i in (0, 1)]
    widths = [min(max(w, 9), 28) for w in widths]
    label_width = min(max((len(r.label) for s in sections for r in s.rows), default=10),
                      LABEL_WIDTH)
    out = []
    for section in sections:
        title = f"{section.title}  {section.subtitle}"
        out.append("")
        out.append(f"{BOLD}{title}{RESET}" if color else title)
        head = (f"{'':<{label_width}} {a.label[:widths[0]]:>{widths[0]}} "
                f"{b.label[:widths[1]]:>{widths[1]}}  change")
        out.append(f"{DIM}{head}{RESET}" if color else head)
        for row in section.rows:
            change = _verdict(row.change, row.verdict, color)
            out.append(f"{row.label[:label_width]:<{label_width}} "
                       f"{row.values[0]:>{widths[0]}} {row.values[1]:>{widths[1]}}  {change}")
    out.append("")
    out.append(textwrap.fill(FOOTNOTE, min(width, 100)))
    return "\n".join(out)


_MARKDOWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|",
                                   "[": "\\[", "]": "\\]", "`": "\\`", "\\": "\\\\",
                                   "\n": " ", "\r": " "})


def _md(text: str) -> str:
    """Text from a recording (run and phase names) as inert Markdown: no HTML, links or
    code spans get through, and a table cell stays one cell."""
    return text.translate(_MARKDOWN_ESCAPES)


def markdown(comparison: Comparison) -> str:
    """The comparison as Markdown, for a pull request or a wiki page."""
    a, b = comparison.runs
    by = "phase" if comparison.by == "phase" else "elapsed time"
    out = [f"## {_md(a.label)} vs {_md(b.label)}", "",
           f"Aligned by {by}. Latency objective: {_md(objective_text(comparison))}. "
           f"Change is {_md(b.label)} against {_md(a.label)}.", ""]
    for note in [*comparison.notes, tables.missing_note(list(comparison.runs))]:
        if note:
            out += [f"> {_md(note)}", ""]
    for section in with_engine_rows(tables.comparison_sections(comparison), comparison):
        out += _markdown_section(section, a.label, b.label)
    out.append(FOOTNOTE)
    out += _markdown_llm([a, b])
    return "\n".join(out) + "\n"


def _markdown_llm(runs: list[RunAnalysis]) -> list[str]:
    """Each streaming run's LLM table per phase, as the text output prints it."""
    lines: list[str] = []
    for run in runs:
        llm = llm_summary(run)
        if llm is None:
            continue
        lines += ["", f"### LLM figures, {_md(run.label)}", "", *_markdown_table(llm_table(llm))]
        note = estimated_note(llm.get("total", {}))
        if note:
            lines += ["", _md(note)]
    if lines:
        lines += ["", TTFT_NOTE]
    return lines


def _markdown_table(table: Table) -> list[str]:
    """A table with its first column as text and the others right-aligned."""
    head = "| " + " | ".join(_md(c) for c in table.columns) + " |"
    align = "|---|" + "---:|" * (len(table.columns) - 1)
    return [head, align, *("| " + " | ".join(_md(v) for v in row) + " |" for row in table.rows)]


def _markdown_section(section: Section, label_a: str, label_b: str) -> list[str]:
    lines = [f"### {_md(section.title)} ({_md(section.subtitle)})", "",
             f"| figure | {_md(label_a)} | {_md(label_b)} | change |",
             "|---|---:|---:|---|"]
    for row in section.rows:
        # Words, not colour: Markdown renders none, and not every reader sees it.
        change = {BETTER: f"{row.change}, better", WORSE: f"**{row.change}, worse**"}.get(
            row.verdict, row.change)
        lines.append(f"| {_md(row.label)} | {_md(row.values[0])} | {_md(row.values[1])} | "
                     f"{_md(change)} |")
    lines.append("")
    return lines


def _rgb(hex_color: str, pale: float = 0.0) -> tuple[int, int, int]:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(round(c + (255 - c) * pale) for c in (r, g, b))  # type: ignore[return-value]


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    decade = 10 ** math.floor(math.log10(max(low, 1e-6)))
    while decade <= high:
        ticks += [decade * f for f in (1, 2, 5) if low <= decade * f <= high]
        decade *= 10
    return ticks


def plot(chart: Chart, width: int, height: int, color: bool = True) -> str:
    """One chart drawn by plotext, as text."""
    import plotext as plt

    plt.clear_figure()
    plt.theme("clear")
    plt.plotsize(width, height)
    plt.title(chart.title)
    plt.xlabel("elapsed (m:ss)")
    plt.ylabel(chart.y_label)
    ys = [y for line in chart.lines for y in line.ys]
    for line in chart.lines:
        if not line.ys:
            continue
        pale = 0.45 if line.dash == DASHED else 0.6 if line.dash == DOTTED else 0.0
        xs, values = line.xs, line.ys
        if line.step:
            xs, values = _steps(xs, values)
        plt.plot(xs, values, label=line.label, color=_rgb(line.color, pale),
                 marker="dot" if line.dots else "braille")
    for guide in chart.guides:
        if ys and guide.y <= 2 * max(ys):
            plt.hline(guide.y, _rgb(guide.color))
    for mark in chart.marks:
        plt.vline(mark.x, _rgb(mark.color))
    x_end = max([chart.x_end, *(x for line in chart.lines for x in line.xs)], default=1.0)
    step = nice_step(x_end, 6) if x_end < 60 else next(
        (s for s in (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if x_end / s <= 7), 3600)
    x_ticks = [i * step for i in range(int(x_end // step) + 1)]
    plt.xticks(x_ticks, [clock(x) for x in x_ticks])
    plt.xlim(0, x_end)
    positive = [y for y in ys if y > 0]
    if chart.y_log and positive:
        plt.yscale("log")
        ticks = _log_ticks(min(positive), max(positive) * 1.05)
        plt.yticks(ticks, [number(t) for t in ticks])
    elif ys:
        top = max(ys)
        plt.ylim(0, top * 1.08 if top > 0 else 1.0)  # all zero: a 0–1 axis, not 0–1e-9
        if chart.y_integer:
            ticks = list(range(0, int(top) + 1))
            plt.yticks(ticks, [str(t) for t in ticks])
    text = plt.build()
    return text if color else plt.uncolorize(text)


def _steps(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """A stair line: each count holds until the next point."""
    out_x, out_y = [], []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if i:
            out_x.append(x)
            out_y.append(ys[i - 1])
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y

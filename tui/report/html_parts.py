"""The HTML building blocks every report section uses: tables, cards, chart figures."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from tui.report import charts as chart_specs
from tui.report import svg
from tui.report.style import CSS
from tui.report.tables import Table


def table_html(table: Table, total_last: bool = False, text_columns: Iterable[int] = (),
               css_class: str = "") -> str:
    text = set(text_columns)
    head = "".join(f'<th class="text">{escape(c)}</th>' if j in text else f"<th>{escape(c)}</th>"
                   for j, c in enumerate(table.columns))
    rows = []
    for i, row in enumerate(table.rows):
        cls = ' class="total"' if total_last and i == len(table.rows) - 1 else ""
        cells = "".join(
            f'<td class="text">{escape(v)}</td>' if j in text else f"<td>{escape(v)}</td>"
            for j, v in enumerate(row))
        rows.append(f"<tr{cls}>{cells}</tr>")
    table_class = f' class="{css_class}"' if css_class else ""
    return (f'<div class="scroll"><table{table_class}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def cards_html(items: list[tuple[str, str, str]]) -> str:
    """Cards of (title, value as HTML, note as text)."""
    cards = "".join(f'<div class="card"><div class="k">{escape(k)}</div>'
                    f'<div class="v">{v}</div>{f"<div class=note>{escape(n)}</div>" if n else ""}'
                    "</div>" for k, v, n in items)
    return f'<div class="cards">{cards}</div>'


def pair(va: str, vb: str) -> str:
    """A card value of two runs: "A → B"."""
    return f"{escape(va)} <small>→</small> {escape(vb)}"


def note_html(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _figure(chart: chart_specs.Chart) -> str:
    notes = [n for n in (chart.note, svg.hidden_guides_note(chart)) if n]
    note = "".join(note_html(n) for n in notes)
    return (f'<figure data-chart="{escape(chart.key)}"><figcaption>{escape(chart.title)}'
            f"</figcaption>{svg.render(chart)}{svg.legend_html(chart)}{note}</figure>")


def charts_html(charts: list[chart_specs.Chart], stacked: bool = False) -> str:
    """Charts side by side as the width allows; ``stacked``: one column, so their time axes
    line up."""
    shown = [c for c in charts if not c.empty or c.marks]
    cls = "charts stacked" if stacked else "charts"
    return f'<div class="{cls}">{"".join(_figure(c) for c in shown)}</div>'


def page_html(title: str, sub: str, body: str, footer: str) -> str:
    """A whole self-contained document: inline CSS, nothing fetched."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # The report must not fetch anything, even if someone edits it to add a link.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(sub)}</p>',
        body,
        f"<footer>{escape(footer)}</footer></main></body></html>"])

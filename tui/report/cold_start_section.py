"""Cold starts of an inference component in the report and in compare: per cold start the
first failed request, the scale-from-zero alarm, the copy in service and the first success,
with the seconds between (``metrics.cold_start`` finds them in the recording).
"""

from __future__ import annotations

from html import escape

from metrics.cold_start import ColdStart, find_cold_starts
from metrics.compare import RunAnalysis
from tui.report import svg
from tui.report.html_parts import table_html
from tui.report.tables import Table

COLUMNS = ["first failure", "alarm", "copy InService", "first success", "seconds in all",
           "failed requests"]


def _at(start: ColdStart, at: float | None, step: float | None) -> str:
    if at is None:
        return "not seen"
    return f"{svg.clock(at)} (+{step:.0f} s)" if step is not None else svg.clock(at)


def cold_start_rows(start: ColdStart) -> list[str]:
    steps = dict(start.steps())
    total = start.seconds
    return [svg.clock(start.failed_at),
            _at(start, start.alarm_at, steps["alarm"]),
            _at(start, start.in_service_at, steps["copy InService"]),
            _at(start, start.success_at, steps["first success"]),
            f"{total:.0f}" if total is not None else "no success",
            str(start.failed)]


def cold_start_html(run: RunAnalysis) -> str:
    """The run's cold starts as a table ("" for a run without any)."""
    starts = find_cold_starts(run.recording.records, run.header)
    if not starts:
        return ""
    return ("<h3>Cold starts</h3>"
            + table_html(Table(COLUMNS, [cold_start_rows(s) for s in starts]))
            + '<p class="note">From zero copies of the inference component back to serving: '
              "times are the session's elapsed time; requests at one-second resolution, the "
              "copy count at the endpoint poll's interval, the alarm at its scaling "
              f"activity's start. {escape(str(len(starts)))} cold start(s).</p>")


def cold_start_compare_lines(runs: list[RunAnalysis]) -> list[str]:
    """Compare's lines: each run's cold starts, when either run had any."""
    found = [(run.label, find_cold_starts(run.recording.records, run.header)) for run in runs]
    if not any(starts for _, starts in found):
        return []
    lines = ["", "cold starts (inference component from zero copies)"]
    for label, starts in found:
        if not starts:
            lines.append(f"  {label}: none")
        for start in starts:
            lines.append(f"  {label}: {start.describe()}")
    return lines

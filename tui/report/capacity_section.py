"""The report's capacity search section: each step (and each run of a step), and the answer.

A step that failed is run again to confirm it (best of three), so a rate can have several
rows: ``run`` numbers them and ``rate overall`` says what the search decided for that rate.
Fields a newer recording adds to the step events (streaming goodput, say) get a column of
their own when they are figures, so a report never drops what the search judged on.
"""

from __future__ import annotations

from html import escape
from typing import Any

from driver.capacity import CLEAR_FAILURE_NOTE, verdict_label
from metrics.compare import RunAnalysis
from metrics.records import Event
from tui.report import tables
from tui.report.html_parts import table_html
from tui.report.tables import Table

# Step fields shown in their own columns (or used for the verdict), and bookkeeping not shown.
_KNOWN = {"rate", "run", "passed", "clear", "reasons", "rate_passes", "achieved_rps",
          "p50_ms", "p99_ms", "error_rate", "requests", "server_model_latency_ms",
          "server_5xx", "stopped_early", "overloaded_s", "unit", "seconds"}
# Shown for a streaming search only: a plain step's count of ended requests is its "requests".
_STREAMING_ONLY = {"ended"}


def _overall(step: dict[str, Any]) -> str:
    decided = step.get("rate_passes")
    if decided is None:
        return "re-running"  # not decided yet: the search runs this rate again
    return "passes" if decided else "fails"


def _extra_columns(steps: list[dict[str, Any]], streaming: bool) -> list[str]:
    """Numeric fields beyond the known ones, in the order the first step has them."""
    keys: list[str] = []
    skip = _KNOWN if streaming else _KNOWN | _STREAMING_ONLY
    for step in steps:
        for key, value in step.items():
            if (key not in skip and key not in keys and isinstance(value, int | float)
                    and not isinstance(value, bool)):
                keys.append(key)
    return keys


def _label(key: str) -> str:
    for suffix, unit in (("_ms", " ms"), ("_pct", " %"), ("_rps", " req/s")):
        if key.endswith(suffix):
            return key[:-len(suffix)].replace("_", " ") + unit
    return key.replace("_", " ")


def _value(key: str, value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    if key.endswith("_ms"):
        return tables.ms(value)
    if key.endswith("_pct"):
        return f"{value:.1f}"
    if key.endswith("_rps"):
        return tables.rps(value)
    if key.endswith("_rate") or (key.startswith("goodput") and 0 <= value <= 1
                                 and isinstance(value, float)):
        return tables.percent(value)
    return f"{value:,.4g}"


def capacity_html(run: RunAnalysis) -> str:
    """A capacity search's steps and answer, when the run was one (``find-capacity``)."""
    events = [e for e in run.timeline.events
              if isinstance(e, Event) and e.source == "capacity" and isinstance(e.data, dict)]
    steps = [e.data for e in events if e.name == "capacity_verdict"]
    if not steps:
        return ""
    with_runs = any("run" in step for step in steps)  # recordings before confirmation runs
    unit = next((str(e.data["unit"]) for e in events if e.data.get("unit")), "req/s")
    streaming = any(step.get("goodput_pct") is not None for step in steps)
    extra = _extra_columns(steps, streaming)
    columns = [f"step {unit}", *(["run", "verdict", "rate overall"] if with_runs else
                               ["verdict"]),
               "achieved req/s", "p50 ms", "p99 ms", "errors", *map(_label, extra), "why"]
    rows = []
    for step in steps:
        verdict = verdict_label(bool(step.get("passed")), bool(step.get("clear")))
        judged = [str(step.get("run", "—")), verdict, _overall(step)] if with_runs else [verdict]
        rows.append([f"{step.get('rate', 0):g}", *judged,
                     tables.rps(step.get("achieved_rps")), tables.ms(step.get("p50_ms")),
                     tables.ms(step.get("p99_ms")), tables.percent(step.get("error_rate")),
                     *(_value(k, step.get(k)) for k in extra),
                     "; ".join(str(r) for r in step.get("reasons") or [])])
    verdict_at = 2 if with_runs else 1
    text = [verdict_at, len(columns) - 1] + ([verdict_at + 1] if with_runs else [])
    table = table_html(Table(columns, rows), text_columns=text)
    for word, cls in (("pass", "ok"), ("passes", "ok"), ("FAIL!", "failed"), ("FAIL", "failed"),
                      ("fails", "failed")):
        table = table.replace(f'<td class="text">{word}</td>',
                              f'<td class="text {cls}">{word}</td>')
    result = next((e for e in reversed(events) if e.name == "capacity_result"), None)
    answer = (f"<p><strong>{escape(result.message)}</strong></p>" if result is not None else
              '<p class="note">The search did not finish: no result was recorded.</p>')
    confirm = (" A failed step is run again to confirm it, best of three: a first pass stands, "
               "a failure once two runs of the rate failed (“rate overall”)." if with_runs
               else "")
    judged_on = ("on goodput (the share of requests that met the TTFT and TPOT SLOs), errors "
                 "and the requests sent and ended" if streaming else
                 "on the client's error rate, p99 and achieved rate")
    return ("<h3>Capacity search</h3>" + answer + table
            + f'<p class="note">{CLEAR_FAILURE_NOTE}. Each step is judged {judged_on} after '
              f"its first seconds.{confirm}</p>")

"""The report's capacity search section: each step (and each run of a step), and the answer.

A step that failed is run again to confirm it (best of three), so a rate can have several
rows: ``run`` numbers them and ``rate overall`` says what the search decided for that rate.
Fields a newer recording adds to the step events (streaming goodput, say) get a column of
their own when they are figures, so a report never drops what the search judged on.
"""

from __future__ import annotations

from html import escape
from typing import Any

from driver.capacity import CLEAR_FAILURE_NOTE, CONTAMINATED_NOTE, verdict_label
from metrics.compare import RunAnalysis
from metrics.records import Event
from tui.report import tables
from tui.report.html_parts import table_html
from tui.report.tables import Table

# Step fields shown in their own columns (or used for the verdict), and bookkeeping not shown.
_KNOWN = {"rate", "run", "passed", "clear", "reasons", "rate_passes", "achieved_rps",
          "p50_ms", "p99_ms", "error_rate", "requests", "server_model_latency_ms",
          "server_5xx", "stopped_early", "overloaded_s", "unit", "seconds", "contaminated",
          "recovery_s", "recovery_probes", "backlog_growth", "slow_share", "judged_p99_ms"}
# What the search judged a plain step on beyond its p99, each in a column of its own (shown
# when any step has it): the wait for recovery before the run, the backlog's slope as a share
# of the rate per second, the share of judged seconds each slow, the windows' median p99.
_JUDGED = (("wait s", "recovery_s", lambda v: f"{v:.0f}" if v else "—"),
           ("backlog %/s", "backlog_growth",
            lambda v: f"{100 * v:+.1f}" if abs(100 * v) >= 0.05 else "0.0"),
           ("slow seconds", "slow_share", lambda v: f"{100 * v:.0f} %"),
           ("p99 judged ms", "judged_p99_ms", tables.ms))
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
    if key.startswith("in_flight"):  # requests in flight, a mean over the run's seconds
        return f"{value:,.1f}"
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
    judged_on = [(title, key, shown) for title, key, shown in _JUDGED
                 if any(isinstance(step.get(key), int | float) and step.get(key)
                        for step in steps)]
    columns = [f"step {unit}", *(["run", "verdict", "rate overall"] if with_runs else
                               ["verdict"]),
               "achieved req/s", "p50 ms", "p99 ms", "errors",
               *(title for title, _, _ in judged_on), *map(_label, extra), "why"]
    rows = []
    for step in steps:
        verdict = ("aside" if step.get("contaminated") else
                   verdict_label(bool(step.get("passed")), bool(step.get("clear"))))
        judged = [str(step.get("run", "—")), verdict,
                  "not counted" if step.get("contaminated") else _overall(step)] \
            if with_runs else [verdict]
        rows.append([f"{step.get('rate', 0):g}", *judged,
                     tables.rps(step.get("achieved_rps")), tables.ms(step.get("p50_ms")),
                     tables.ms(step.get("p99_ms")), tables.percent(step.get("error_rate")),
                     *(shown(step[key]) if isinstance(step.get(key), int | float) else "—"
                       for _, key, shown in judged_on),
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
    basis = ("on goodput (the share of requests that met the TTFT and TPOT SLOs), errors "
             "and the requests sent and ended" if streaming else
             "on the client's error rate, p99 and achieved rate")
    columns_note = ""
    if judged_on:
        columns_note = (" “wait s”: the wait for the target to recover before the run (nothing "
                        "in flight, then probes at the baseline rate until latency is back near "
                        "unloaded); “backlog %/s”: how fast requests in flight grew, per second, "
                        "as a share of the rate (1 % or more fails a run); “slow seconds”: the "
                        "share of judged seconds whose own p99 was over the objective; “p99 "
                        "judged”: the median of the p99 of the run's 5 s windows, the p99 it "
                        "was judged on.")
    aside = (f" {CONTAMINATED_NOTE[0].upper()}{CONTAMINATED_NOTE[1:]}."
             if any(step.get("contaminated") for step in steps) else "")
    waits = [e.data.get("waited_s") for e in events
             if e.name in ("capacity_recovered", "capacity_unrecovered")]
    waited = (f"<p>Recovery: waited {len(waits)} time{'s' if len(waits) != 1 else ''} for the "
              f"target, {sum(waits):.0f} s in all, the longest {max(waits):.0f} s.</p>"
              if waits and all(isinstance(w, int | float) for w in waits) else "")
    return ("<h3>Capacity search</h3>" + answer + waited + table
            + f'<p class="note">{CLEAR_FAILURE_NOTE}. Each step is judged {basis} after '
              f"its first seconds.{confirm}{columns_note}{aside}</p>")

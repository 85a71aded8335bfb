"""Streaming LLM runs in report, compare (text and Markdown) and the capacity table.

The two recordings are real runs against the sandbox's LLM instance (``make_recordings.py
--only llm``): "light" under what one instance holds, "heavy" past it.
"""

from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest

from driver.capacity.search import StepResult
from metrics.compare import compare, llm_summary
from metrics.recording import read_recording
from metrics.records import Event
from tests.tui.report.helpers import FIXTURES, T0, header, recording, tick
from tui.console import llm_summary_lines
from tui.report.html import report_html
from tui.report.inputs import load_runs
from tui.report.llm_section import COLUMNS, llm_table
from tui.report.tables import ms
from tui.report.terminal import GREEN, RED, markdown, text_tables

LIGHT = FIXTURES / "sandbox-llm-light.jsonl"
HEAVY = FIXTURES / "sandbox-llm-heavy.jsonl"
PLAIN = FIXTURES / "sandbox-after.jsonl"


@pytest.fixture(scope="module")
def runs():  # type: ignore[no-untyped-def]
    return load_runs([LIGHT, HEAVY])


def _cells(html: str, label: str) -> list[str]:
    """The cells of the table row whose first cell is ``label``, as text."""
    row = re.search(rf"<tr[^>]*><td class=\"text\">{re.escape(label)}</td>(.*?)</tr>", html)
    assert row, label
    return [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]


def test_the_report_table_is_the_summary_the_live_run_wrote(runs) -> None:
    """Rebuilt from the recorded ticks, the LLM table equals the footer's summary.llm."""
    live = read_recording(HEAVY).footer.summary["llm"]
    rebuilt = llm_summary(runs[1])
    assert rebuilt is not None
    assert [p["name"] for p in rebuilt["phases"]] == ["warm up", "load"]
    for key in ("output_tokens", "input_tokens", "goodput", "output_tokens_per_s"):
        assert rebuilt["total"][key] == live["total"][key]
    assert rebuilt["total"]["ttft_ms"]["p99"] == live["total"]["ttft_ms"]["p99"]
    # ...and it is the headless table's figures: tokens and TTFT p99 of the total row.
    total = next(line for line in llm_summary_lines(live) if line.startswith("total")).split()
    table = llm_table(rebuilt)
    assert table.rows[-1][0] == "whole run"
    assert [int(v.replace(",", "")) for v in table.rows[-1][1:3]] == [int(total[1]),
                                                                       int(total[2])]


def test_a_streaming_report_has_llm_cards_table_and_charts(runs) -> None:
    html = report_html([runs[1]])
    total = llm_summary(runs[1])["total"]
    assert "<h3>Streaming (LLM), whole run</h3>" in html
    assert "time to first token p50 / p99" in html
    assert f"{ms(total['ttft_ms']['p50'])} / {ms(total['ttft_ms']['p99'])}" in html
    assert (f"from the actual send {ms(total['ttft_sent_ms']['p50'])} / "
            f"{ms(total['ttft_sent_ms']['p99'])} ms") in html
    assert "requests within TTFT ≤ 500ms and TPOT ≤ 40ms" in unescape(html)
    assert "exact, from the stream's usage" in unescape(html)  # TGI details count tokens
    llm_part = html.split("<h3>LLM figures per phase</h3>", 1)[1]
    llm_load = _cells(llm_part, "load")
    phase = llm_summary(runs[1])["phases"][1]
    assert llm_load[1] == f"{phase['output_tokens']:,}"
    assert llm_load[COLUMNS.index("goodput") - 1] == f"{phase['goodput_pct']:.1f} %"
    for key in ('data-chart="llm-latency"', 'data-chart="llm-tokens"',
                "TTFT p99 (intended send)", "goodput (met the LLM SLOs)"):
        assert key in html


def test_a_plain_run_report_has_no_llm_parts() -> None:
    html = report_html(load_runs([PLAIN]))
    for text in ("LLM", "llm-latency", "time to first token", "goodput"):
        assert text not in html


def test_estimated_tokens_are_marked(runs) -> None:
    llm = llm_summary(runs[0])
    llm["total"]["output_tokens_estimated"] = llm["total"]["output_tokens"]
    from tui.report.llm_section import llm_cards_html, llm_table_html
    assert "<small>estimated</small>" in llm_cards_html(runs[0], llm)
    assert "counted from chunks (the stream gave no usage), so estimated" in \
        llm_table_html(runs[0], llm)


def test_compare_lines_up_llm_figures_per_phase_coloured(runs) -> None:
    comparison = compare(*runs, "time")
    text = text_tables(comparison, color=True)
    for phase in ("phase “warm up”", "phase “load”", "whole run"):
        assert phase in text
    assert text.count("LLM TTFT p99, ms") == 3
    # light → heavy: TTFT and TPOT higher (worse, red), goodput lower (worse, red);
    # tokens/s is a rate: its change is shown, never coloured.
    assert re.search(rf"LLM TTFT p99, ms .*{re.escape(RED)}\d", text)
    assert re.search(rf"LLM TPOT p99, ms .*{re.escape(RED)}\d", text)
    assert re.search(rf"LLM goodput .*{re.escape(RED)}-\d+\.\d pts", text)
    tokens = next(line for line in text.splitlines() if line.startswith("LLM output tokens/s"))
    assert "\x1b[" not in tokens and re.search(r"[+-]\d+\.\d %$|× higher$", tokens)
    # heavy → light: the same rows turn green
    back = text_tables(compare(runs[1], runs[0], "time"), color=True)
    assert re.search(rf"LLM goodput .*{re.escape(GREEN)}\+\d+\.\d pts", back)


def test_two_streaming_runs_are_judged_on_goodput_then_ttft_not_stream_length() -> None:
    from tui.report.tables import BETTER, SAME, WORSE, run_verdict

    a, b = load_runs([LIGHT, HEAVY])
    fa, fb = a.figures(), b.figures()
    la, lb = (llm_summary(run)["total"] for run in (a, b))
    text, decided = run_verdict(fa, fb, la, lb)
    assert decided == WORSE and text.startswith("B worse: goodput")
    assert run_verdict(fb, fa, lb, la)[1] == BETTER
    # same goodput: TTFT p99 decides; same TTFT too: no clear difference
    text, decided = run_verdict(fa, fa, {**la, "ttft_ms": {"p99": 300.0}},
                                {**la, "ttft_ms": {"p99": 900.0}})
    assert decided == WORSE and "TTFT p99 300 → 900 ms" in text
    assert run_verdict(fa, fa, la, la) == ("no clear difference in errors, goodput or TTFT p99",
                                           SAME)
    rows = {r.label: r for s in text_tables_sections(a, b) for r in s.rows}
    assert "verdict (errors/goodput/TTFT)" in rows


def text_tables_sections(a, b):  # type: ignore[no-untyped-def]
    from tui.report.tables import comparison_sections

    return comparison_sections(compare(a, b, "time"))


def test_compare_markdown_has_llm_rows_and_each_runs_table_escaped() -> None:
    runs = load_runs([LIGHT, HEAVY], labels="<b>before</b>,a|b")
    out = markdown(compare(*runs, "time"))
    assert re.search(r"\| LLM TTFT p99, ms \| [\d.,]+ \| [\d.,]+ \| \*\*.*, worse\*\* \|", out)
    assert "| LLM goodput |" in out
    assert "### LLM figures, &lt;b&gt;before&lt;/b&gt;" in out
    assert "### LLM figures, a\\|b" in out
    assert "<b>" not in out
    table = out.split("### LLM figures, a\\|b", 1)[1]
    assert "| phase | tokens in | tokens out | out tok/s | req/s | TTFT p50 ms |" in table
    assert re.search(r"^\| whole run \| [\d,]+ \| [\d,]+ \|", table, re.MULTILINE)


def test_plain_runs_compare_without_llm_rows() -> None:
    from tui.report.overlay import overlay_charts

    runs = load_runs([FIXTURES / "sandbox-before.jsonl", PLAIN])
    comparison = compare(*runs, "time")
    assert "LLM" not in text_tables(comparison) and "LLM" not in markdown(comparison)
    charts = overlay_charts(comparison)
    assert [c.key for c in charts] == ["load", "latency", "instances", "errors"]
    assert not any("goodput" in line.label and line.ys for c in charts for line in c.lines)


def _step(rate: float, run: int, passed: bool, rate_passes: bool | None, **extra: float) -> Event:
    result = StepResult(rate=rate, achieved_rps=rate, error_rate=0.0 if passed else 0.2,
                        p99_ms=20.0 if passed else 400.0, p50_ms=10.0, requests=100)
    data = {"rate": rate, "run": run, "passed": passed, "clear": False,
            "reasons": [] if passed else ["p99 400 ms > 80 ms"], "rate_passes": rate_passes,
            **dataclasses.asdict(result), **extra}
    return Event(t=T0 + run, elapsed=float(run), source="capacity", name="capacity_verdict",
                 message="", data=data)


def test_the_capacity_table_shows_each_run_and_the_rate_overall() -> None:
    events = [_step(40, 1, True, True, goodput_pct=99.0),
              _step(80, 1, False, None, goodput_pct=60.0),
              _step(80, 2, True, None, goodput_pct=97.0),
              _step(80, 3, False, False, goodput_pct=70.0)]
    rec = recording(header(), [tick(s, [10.0]) for s in range(4)] + events)
    from metrics.compare import analyze
    html = report_html([analyze(rec, "search")])
    columns = re.search(r"<h3>Capacity search</h3>.*?<thead><tr>(.*?)</tr>", html).group(1)
    assert re.findall(r"<th[^>]*>(.*?)</th>", columns) == [
        "step req/s", "run", "verdict", "rate overall", "achieved req/s", "p50 ms", "p99 ms",
        "errors", "goodput %", "ended", "why"]
    body = html.split("<h3>Capacity search</h3>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("</thead>", 1)[1].split("</table>")[0])
    cells = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows]
    assert [c[:4] for c in cells] == [["40", "1", "pass", "passes"],
                                      ["80", "1", "FAIL", "re-running"],
                                      ["80", "2", "pass", "re-running"],
                                      ["80", "3", "FAIL", "fails"]]
    assert [c[8] for c in cells] == ["99.0", "60.0", "97.0", "70.0"]
    assert '<td class="text failed">fails</td>' in body
    assert "The search did not finish" in body
    assert "judged on goodput" in body  # its steps carry goodput: a streaming search


def test_a_concurrency_search_table_is_in_flight_and_judged_on_goodput() -> None:
    step = Event(t=T0, elapsed=0.0, source="capacity", name="capacity_step", message="",
                 data={"rate": 6, "run": 1, "unit": "in flight"})
    events = [step, _step(6, 1, True, True, goodput_pct=100.0)]
    from metrics.compare import analyze
    html = report_html([analyze(recording(header(), [tick(0, [10.0]), *events]), "s")])
    body = html.split("<h3>Capacity search</h3>", 1)[1]
    assert "<th>step in flight</th>" in body and "<th>unit</th>" not in body
    assert "judged on goodput (the share of requests that met the TTFT and TPOT SLOs)" in body


def test_the_html_comparison_has_the_llm_rows(runs) -> None:
    html = report_html(runs, compare(*runs, "time"))
    comparison = html.split('<section class="run"', 1)[0]
    row = re.search(r"<td class=\"text\">LLM goodput</td>(.*?)</tr>", comparison).group(1)
    assert '<td class="worse">-' in row and "pts</td>" in row
    assert 'data-chart="llm-latency"' in comparison and "sandbox-llm-heavy goodput" in comparison
    assert html.count("<h3>LLM figures per phase</h3>") == 2  # each run's own table
    assert re.search(r"LLM goodput</div><div class=\"v\">88\.3 % <small>→</small> 6\.3 %", html)


def test_export_writes_the_llm_columns_of_a_streaming_run(tmp_path) -> None:
    import csv

    from metrics.llm import LLM_COLUMNS
    from tui.commands.cli import main

    for source in (HEAVY, PLAIN):
        assert main(["export", "--csv", "-o", str(tmp_path), str(source)]) == 0
    with open(tmp_path / "sandbox-llm-heavy-client.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert set(LLM_COLUMNS) <= set(rows[0])
    live = read_recording(HEAVY).footer.summary["llm"]["total"]
    assert sum(int(r["output_tokens_per_s"]) for r in rows) == live["output_tokens"]
    assert sum(int(r["goodput_per_s"]) for r in rows) == live["goodput"]
    with open(tmp_path / "sandbox-after-client.csv", encoding="utf-8") as f:
        assert not set(LLM_COLUMNS) & set(next(csv.reader(f)))


def test_a_concurrency_target_is_not_read_as_invocations_per_minute(tmp_path) -> None:
    """Recordings of concurrency target tracking carried the target (16 in flight) as an
    InvocationsPerInstance target: breaches and the chart's guide were then wrong."""
    import json

    lines = LIGHT.read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0])
    head["profile"]["scaling"] = {"enabled": True, "metric": "concurrency", "target": 16}
    head["meta"]["scaling_target"] = {"invocations_per_instance_per_minute": 16.0,
                                      "source": "profile"}
    path = tmp_path / "concurrency.jsonl"
    path.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n", encoding="utf-8")
    from metrics.scaling_target import scaling_target_per_minute

    assert scaling_target_per_minute(read_recording(path)) is None
    run = load_runs([path])[0]
    assert run.scaling_target is None
    html = unescape(report_html([run]))
    assert "16 requests in flight per model copy (ConcurrentRequestsPerModel)" in html
    guide = re.compile(r'class="guide-label"[^>]*>scaling target')
    assert "16 InvocationsPerInstance" not in html and not guide.search(html)
    assert scaling_target_per_minute(read_recording(PLAIN)) == 1500  # invocations: as before
    assert guide.search(report_html(load_runs([PLAIN])))


def test_a_run_on_concurrency_target_tracking_records_no_invocations_target() -> None:
    from types import SimpleNamespace

    from driver.profile import parse_profile
    from driver.session.setup import _scaling_target

    text = ("config:\n  phases: [{duration: 5, arrivalRate: 1}]\n"
            "llm: {}\nsagemaker: {endpoint: e, stream: true}\n"
            "scaling: {enabled: true, metric: %s, target: 16}\n")
    from driver.aws import ScalingControl

    def control(metric: str) -> ScalingControl:
        return ScalingControl(None, "e", "AllTraffic", SimpleNamespace(metric=metric))  # type: ignore[arg-type]

    # Recorded in its own unit (issue 20), never under the per-instance key.
    assert _scaling_target(parse_profile(text % "concurrency"), control("concurrency")) == {
        "scaling_target": {"metric": "SageMakerVariantConcurrentRequestsPerModelHighResolution",
                           "value": 16.0, "unit": "requests in flight per model",
                           "source": "profile"}}
    assert _scaling_target(parse_profile(text % "invocations"), control("invocations"))[
        "scaling_target"]["invocations_per_instance_per_minute"] == 16.0

"""The compare, report and export commands on the fixtures, and what they do with bad input."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from metrics.recording import read_recording
from metrics.records import Tick
from tests.tui.report.helpers import FIXTURES
from tui.commands.cli import main

BEFORE = FIXTURES / "http-1x.jsonl"
AFTER = FIXTURES / "http-4x.jsonl"
TRUNCATED = FIXTURES / "http-4x-truncated.jsonl"


def _rewrite(source: Path, target: Path, change) -> Path:  # type: ignore[no-untyped-def]
    lines = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    target.write_text("\n".join(json.dumps(change(d)) for d in lines) + "\n", encoding="utf-8")
    return target


def test_compare_prints_tables_per_phase_and_the_overlaid_charts(capsys) -> None:
    assert main(["compare", str(BEFORE), str(AFTER), "--width", "100"]) == 0
    out = capsys.readouterr().out
    for text in ("http-1x (A) vs http-4x (B)", "phase “warm up”", "phase “max load”",
                 "whole run", "client p99 (ok), ms", "errors 5xx",
                 "seconds with p99 over 50 ms", "successful (ok), req/s"):
        assert text in out
    assert re.search(r"client p99 \(ok\), ms\s+\d+\s+\d+\.\d+\s+\d+\.\d× lower", out)
    # Four plotext charts of both runs, drawn with braille dots.
    for title in ("Load", "Latency", "Errors"):
        assert re.search(rf"^\s+{title}\s*$", out, re.MULTILINE)
    assert re.search("[\u2801-\u28ff]", out)
    assert "\x1b[" not in out  # not a terminal: no colour codes


def test_compare_markdown_is_a_table_per_phase(capsys) -> None:
    assert main(["compare", str(BEFORE), str(AFTER), "--markdown",
                 "--labels", "BEFORE,AFTER"]) == 0
    out = capsys.readouterr().out
    assert "## BEFORE vs AFTER" in out
    assert out.count("| figure | BEFORE | AFTER | change |") == 3
    rows = [line for line in out.splitlines() if line.startswith("| client p99 (ok)")]
    assert len(rows) == 3 and all(row.count("|") == 5 for row in rows)
    assert "⢕" not in out and "Load" not in out  # no charts in Markdown


def test_compare_objective_flag_changes_seconds_over(capsys) -> None:
    assert main(["compare", str(BEFORE), str(AFTER), "--no-charts", "--slo-ms", "10000"]) == 0
    out = capsys.readouterr().out
    assert "latency objective: client p99 (ok) ≤ 10000 ms (--slo-ms)" in out
    assert re.search(r"seconds with p99 over 10000 ms\s+0 s\s+0 s", out)


def test_compare_by_phase_with_different_plans_says_so(tmp_path, capsys) -> None:
    def longer_warm_up(data: dict) -> dict:
        if data["type"] == "header":
            data["meta"]["plan"][0]["duration"] = 10.0
            data["meta"]["plan"][1]["start"] = 10.0
        return data

    other = _rewrite(AFTER, tmp_path / "other.jsonl", longer_warm_up)
    assert main(["compare", str(BEFORE), str(other), "--by", "phase", "--width", "80"]) == 0
    out = capsys.readouterr().out
    assert "aligned by phase" in out
    assert "0:00–0:08 vs 0:00–0:10" in out
    assert "stretched phase by phase" in out


def test_compare_reads_a_truncated_recording_with_a_warning(capsys) -> None:
    assert main(["compare", str(BEFORE), str(TRUNCATED), "--no-charts"]) == 0
    captured = capsys.readouterr()
    assert "last line is truncated" in captured.err
    assert "no footer" in captured.err
    assert "whole run" in captured.out


def test_an_older_writer_without_optional_fields_still_compares(tmp_path, capsys) -> None:
    optional = {"lag", "service", "in_schedule", "workers", "out_of_range", "not_sent", "late",
                "in_flight", "errors", "status"}

    def strip(data: dict) -> dict:
        if data["type"] == "tick":
            return {k: v for k, v in data.items() if k not in optional}
        if data["type"] == "header":
            data["meta"] = {}  # no plan, no ensure: phases come from the ticks
        return data

    old = _rewrite(BEFORE, tmp_path / "old.jsonl", strip)
    assert main(["compare", str(old), str(AFTER), "--no-charts"]) == 0
    out = capsys.readouterr().out
    assert "phase “warm up”" in out and "phase “max load”" in out


@pytest.mark.parametrize("command", ["compare", "report", "export"])
def test_a_newer_format_is_refused_in_one_line(command, tmp_path, capsys) -> None:
    def newer(data: dict) -> dict:
        if data["type"] == "header":
            data["format"] = 99
        return data

    future = _rewrite(BEFORE, tmp_path / "future.jsonl", newer)
    args = {"compare": ["compare", str(future), str(AFTER)],
            "report": ["report", str(future), "-o", str(tmp_path / "r.html")],
            "export": ["export", str(future), "--csv", "-o", str(tmp_path)]}[command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "format 99 is newer than this loadwatch reads" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot open"),
    ("", "empty file"),
    ("hello\n", "not JSON"),
    ('{"type": "tick"}\n', "not a loadwatch header"),
])
def test_bad_input_is_one_clear_line(content, message, tmp_path, capsys) -> None:
    path = tmp_path / "input.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["compare", str(path), str(AFTER)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(path) in err


def test_report_refuses_to_overwrite_an_input_and_more_than_two_files(tmp_path, capsys) -> None:
    copy = tmp_path / "run.jsonl"
    copy.write_bytes(AFTER.read_bytes())
    assert main(["report", str(copy), "-o", str(copy)]) == 2
    assert copy.read_bytes() == AFTER.read_bytes()
    assert main(["report", str(BEFORE), str(AFTER), str(AFTER), "-o",
                 str(tmp_path / "r.html")]) == 2
    assert main(["compare", str(BEFORE), str(AFTER), "--labels", "only-one"]) == 2
    err = capsys.readouterr().err
    assert "is an input" in err and "not 3" in err and "--labels needs 2" in err


def test_report_writes_one_self_contained_file(tmp_path, capsys) -> None:
    out = tmp_path / "deep" / "report.html"
    assert main(["report", str(BEFORE), str(TRUNCATED), "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # Nothing is fetched: no scripts, stylesheets, images or fonts from anywhere.
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", html)
    assert not re.search(r"(src|href)\s*=", html)
    assert "default-src 'none'" in html
    assert "last line is truncated" in html  # the warning is in the report, not only stderr
    assert "http-1x vs http-4x-truncated" in html
    assert html.count('<svg class="chart"') >= 10
    assert "report:" in capsys.readouterr().out


def test_export_writes_csv_with_units_in_the_header(tmp_path, capsys) -> None:
    assert main(["export", str(BEFORE), "--csv", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "server: nothing recorded" in out
    with open(tmp_path / "http-1x-client.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    ticks = [r for r in read_recording(BEFORE).records if isinstance(r, Tick)]
    assert len(rows) == len(ticks)
    assert {"elapsed_s", "target_rps", "sent_per_s", "http_5xx_per_s", "latency_p99_ms",
            "send_lag_p99_ms"} <= set(rows[0])
    assert sum(int(r["sent_per_s"]) for r in rows) == sum(t.sent for t in ticks)
    assert sum(int(r["http_5xx_per_s"]) for r in rows) == sum(
        t.outcomes.get("5xx", 0) for t in ticks)
    assert max(float(r["latency_p99_ms"] or 0) for r in rows) > 100  # the saturated seconds
    with open(tmp_path / "http-1x-events.csv", encoding="utf-8") as handle:
        events = list(csv.DictReader(handle))
    assert [e["name"] for e in events][:2] == ["started", "phase_started"]
    assert not (tmp_path / "http-1x-server.csv").exists()


def test_export_needs_the_format_flag(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["export", str(BEFORE)])
    assert exc.value.code == 2
    assert "--csv" in capsys.readouterr().err


def test_export_of_a_sandbox_run_writes_server_and_endpoint_series(tmp_path, capsys) -> None:
    source = FIXTURES / "sandbox-after.jsonl"
    assert main(["export", str(source), "--csv", "-o", str(tmp_path)]) == 0
    with open(tmp_path / "sandbox-after-server.csv", encoding="utf-8") as handle:
        server = list(csv.DictReader(handle))
    assert {"elapsed_s", "period_s", "Invocations_Sum_count", "ModelLatency_Average_ms",
            "InvocationsPerInstance_Sum_count", "CPUUtilization_Average_percent"} <= set(server[0])
    assert all(row["period_s"] == "5" for row in server)
    with open(tmp_path / "sandbox-after-endpoint.csv", encoding="utf-8") as handle:
        endpoint = list(csv.DictReader(handle))
    assert max(int(row["instances_desired"]) for row in endpoint) == 4
    with open(tmp_path / "sandbox-after-events.csv", encoding="utf-8") as handle:
        events = list(csv.DictReader(handle))
    assert any(e["source"] == "scaling activity" and "count to 4" in e["message"]
               for e in events)


def test_export_keeps_a_60_s_and_a_10_s_period_that_start_together_apart(tmp_path, capsys):
    """Issue 24: one row per timestamp gave one period's period_s to the other's values."""
    source = FIXTURES / "sandbox-after.jsonl"
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    # Each Invocations point again as a 60 s period starting at the same time.
    minutes = [{**d, "period": 60, "value": d["value"] * 12} for d in records
               if d.get("type") == "metric" and d["metric"] == "Invocations"]
    assert minutes, "the fixture has Invocations points"
    for d in records:
        if d.get("type") == "tick" and d["second"] == 3:
            d["interrupted"] = 7
    mixed = tmp_path / "both.jsonl"
    mixed.write_text("\n".join(json.dumps(d) for d in [*records[:-1], *minutes, records[-1]])
                     + "\n", encoding="utf-8")
    assert main(["export", str(mixed), "--csv", "-o", str(tmp_path)]) == 0
    with open(tmp_path / "both-server.csv", encoding="utf-8") as handle:
        server = list(csv.DictReader(handle))
    by_start: dict[str, set[str]] = {}
    for row in server:
        by_start.setdefault(row["utc"], set()).add(row["period_s"])
        if row["period_s"] == "60":  # only the minute's own values in its row
            assert row["ModelLatency_Average_ms"] == ""
    assert any(periods == {"5", "60"} for periods in by_start.values())
    with open(tmp_path / "both-client.csv", encoding="utf-8") as handle:
        client = list(csv.DictReader(handle))
    assert [r["interrupted_per_s"] for r in client if r["second"] == "3"] == ["7"]

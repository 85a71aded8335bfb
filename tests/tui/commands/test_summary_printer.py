"""The end-of-run summary as a new user reads it (issue 24): at 80 columns no line is wider than
the terminal, the operator's stop is counted apart from the errors, what became of scaling is
said, and a run in which nothing succeeded says so and exits non-zero."""

from __future__ import annotations

import copy

from driver.session import EXIT_NOTHING_OK, SessionResult
from metrics import failures
from metrics.ensure import evaluate
from metrics.recording import read_recording
from metrics.records import Event
from tests.tui.report.helpers import FIXTURES
from tui.console.printer import print_result, summary_lines

SUMMARY = read_recording(FIXTURES / "sandbox-after.jsonl").footer.summary


def test_at_80_columns_the_table_comes_in_blocks_and_no_line_is_wider():
    lines = summary_lines(SUMMARY, evaluate({"p99": 200}, SUMMARY["total"]), "posts to /x", 80)
    assert max(len(line) for line in lines) <= 80
    heads = [line.split() for line in lines if line.startswith("phase ")]
    assert len(heads) > 1  # the 152-column table, split
    columns = [c for head in heads for c in head if c != "phase"]
    for title in ("secs", "requests", "ok", "5xx", "%", "p99", "fail"):
        assert title in columns  # every column is still there, in one block or another
    for head in heads:  # each block names the phases again
        at = next(i for i, line in enumerate(lines) if line.split() == head)
        assert [line.split()[0] for line in lines[at + 2:at + 6]] == ["warm", "peak", "cool",
                                                                     "total"]
    # Wide enough, one table as before.
    wide = summary_lines(SUMMARY, None, None, 200)
    assert len([line for line in wide if line.startswith("phase ")]) == 1


def test_an_llm_run_at_80_columns_has_its_stream_table_in_blocks_too():
    summary = read_recording(FIXTURES / "sandbox-llm-heavy.jsonl").footer.summary
    assert summary.get("llm")
    lines = summary_lines(summary, width=80)
    assert max(len(line) for line in lines) <= 80
    heads = [line.split() for line in lines if line.startswith("phase ")]
    columns = [c for head in heads for c in head if c != "phase"]
    for title in ("tok", "TTFT", "sent", "TPOT", "ITL", "E2E", "goodput"):
        assert title in columns  # every LLM column too, in one block or another
    wide = summary_lines(summary, width=300)  # wide enough: one LLM table, one per-phase table
    assert len([line for line in wide if line.startswith("phase ")]) == 2


def test_a_phase_whose_columns_do_not_add_up_is_explained():
    lines = summary_lines(SUMMARY, width=80)
    peak = next(p for p in SUMMARY["phases"] if p["name"] == "peak")
    assert peak["requests"] != sum(peak["outcomes"].values())  # the fixture shows it
    text = " ".join(lines)
    assert "ends in the next" in text


def test_requests_cut_by_the_stop_are_apart_and_leave_err_pct_alone():
    cut = copy.deepcopy(SUMMARY)
    cut["total"]["interrupted"] = 9
    lines = summary_lines(cut, width=80)
    assert any(line.startswith("interrupted: 9 requests in flight") for line in lines)
    assert not any("Cancelled" in line for line in lines)
    err = [line for line in lines if line.startswith("total") and "." in line.split()[-1]]
    assert err == [line for line in summary_lines(SUMMARY, width=80)
                   if line.startswith("total") and "." in line.split()[-1]]


def test_late_sends_are_counted_with_what_late_means():
    late = copy.deepcopy(SUMMARY)
    late["total"]["late"] = 10973
    late["client"] = {**(late.get("client") or {}), "late_ms": 10.0}
    lines = summary_lines(late, width=200)
    assert ("late sends: 10,973 (sent over 10 ms after their intended time; latency counts "
            "from it)") in lines


def _result(summary, exit_code=0, reason="completed"):
    return SessionResult(reason, exit_code, summary, [], FIXTURES / "run.jsonl")


def test_the_summary_says_what_became_of_scaling(capsys):
    restored = Event(0, 1, "scaling", "scaling_restored",
                     "scaling restored: target tracking 15000/instance/min, 1-4 instances, "
                     "enabled; instances 3 -> 1 as at start (the endpoint is updating)")
    print_result(_result(SUMMARY), "", None, restored)
    assert "scaling restored: target tracking" in capsys.readouterr().out
    kept = Event(0, 1, "scaling", "scaling_kept", "scaling changes kept (--keep-scaling); "
                 "saved configuration: none")
    print_result(_result(SUMMARY), "", None, kept)
    assert "scaling kept as the run left it" in capsys.readouterr().out
    failed = Event(0, 1, "scaling", "scaling_failed", "restore scaling: ThrottlingException",
                   {"action": "restore"})
    print_result(_result(SUMMARY), "", None, failed)
    out = capsys.readouterr().out
    assert "scaling NOT restored: restore scaling: ThrottlingException" in out
    assert f"loadwatch scaling restore --from {FIXTURES / 'run.jsonl'}" in out
    print_result(_result(SUMMARY), "", None, None)  # nothing changed: nothing said
    assert "scaling" not in capsys.readouterr().out.split("recording:")[-1]


def test_nothing_succeeded_says_so_in_the_last_line(capsys):
    failed = copy.deepcopy(SUMMARY)
    failed["total"]["outcomes"] = {"ok": 0, "4xx": 6200}
    failed["total"]["status"] = {"404": 6200}
    print_result(_result(failed, EXIT_NOTHING_OK), "", None)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("loadwatch: not one of 6,200 requests succeeded: exit code 4, whatever "
                       "ensure says")


def test_the_server_s_own_words_are_shown_beside_the_count_and_in_the_verdict():
    """vLLM answers a wrong model with 404 and says so in its body: that beats our guess."""
    body = ("The model `llama-wrong` does not exist. " + "x" * 400)
    events = [
        Event(1.0, 0.1, "target", "error", f"HTTP 404: {body}",
              {"code": "HTTP 404", "status": 404, "first": True}),
        Event(2.0, 0.5, "target", "error", "HTTP 404: a later body",  # not the first: kept out
              {"code": "HTTP 404", "status": 404, "first": False}),
        Event(2.0, 0.6, "target", "error", "ModelError: <html><b>bad\n payload</b></html>",
              {"code": "ModelError", "status": 424}),
    ]
    said = failures.first_messages(events)
    assert said["HTTP 404"].startswith("The model `llama-wrong` does not exist. xxx")
    assert len(said["HTTP 404"]) == failures.MESSAGE_CHARS and said["HTTP 404"][-1] == "…"
    assert said["ModelError"] == said["HTTP 424"] == "bad payload"
    failed = copy.deepcopy(SUMMARY)
    failed["total"].update(outcomes={"ok": 0, "4xx": 6200}, status={"404": 6200},
                           error_codes={})
    text = " ".join(summary_lines(failed, None, "posts to /v1/chat/completions", None, said))
    assert "404 ×6,200 (“The model `llama-wrong` does not exist." in text
    assert ("every request got HTTP 404 — is the path right? the profile posts to "
            "/v1/chat/completions; the server said: “The model `llama-wrong`") in text
    narrow = summary_lines(failed, None, "posts to /v1/chat/completions", 80, said)
    assert max(len(line) for line in narrow) <= 80


def test_one_phase_cut_by_the_stop_needs_no_note_about_phases():
    total = copy.deepcopy(SUMMARY["total"])
    total["interrupted"] = 9
    total["requests"] = sum(total["outcomes"].values()) + 9
    lines = summary_lines({"phases": [{**total, "name": "steady"}], "total": total}, width=80)
    assert not any("ends in the next" in line for line in lines)
    assert any(line.startswith("interrupted: 9 requests") for line in lines)

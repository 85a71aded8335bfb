"""The report's streaming LLM figures: cards, the per-phase table, and their notes.

The table is the one the headless summary prints at the end of a run (``tui.console.printer
llm_summary_lines``), rebuilt from the recorded ticks by ``metrics.compare.llm_summary``: the
same figures in the terminal, in compare and here. A run that did not stream has none of it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from metrics.compare import Comparison, RunAnalysis
from tui.report import tables
from tui.report.html_parts import cards_html, note_html, pair, table_html
from tui.report.tables import Table, ms

COLUMNS = ["phase", "tokens in", "tokens out", "out tok/s", "req/s", "TTFT p50 ms",
           "TTFT p99 ms", "sent p50 ms", "sent p99 ms", "TPOT p50 ms", "TPOT p99 ms",
           "ITL p50 ms", "ITL p99 ms", "E2E p50 ms", "E2E p99 ms", "goodput", "stream errors"]
# The whole run as `vllm bench serve` prints it: mean, median and p99 from the actual send.
BENCH_COLUMNS = ["as vllm bench serve", "mean ms", "median ms", "p99 ms"]
BENCH_ROWS = (("TTFT", "ttft_sent_ms"), ("TPOT", "tpot_ms"), ("ITL", "itl_ms"),
              ("E2EL", "e2e_ms"), ("TTFT from the intended send", "ttft_ms"))
TTFT_NOTE = ("TTFT from each request's intended send (coordinated omission corrected); "
             "“sent”: from the actual send, as vLLM bench serve and LLMPerf report it. "
             "TPOT = (end-to-end − TTFT) / (output tokens − 1); ITL spreads a chunk's gap over "
             "its tokens. Goodput: requests that met both SLOs, as a share of those that ended.")


def llm_table(llm: dict[str, Any]) -> Table:
    """One row per phase and a total row, from ``metrics.compare.llm_summary``."""
    rows = []
    for row in [*llm.get("phases", []), {"name": "whole run", **llm.get("total", {})}]:
        if "output_tokens" not in row:
            continue
        rows.append([
            str(row.get("name") or ""), tables.count(row["input_tokens"]),
            tables.count(row["output_tokens"]), tables.rps(row["output_tokens_per_s"]),
            tables.rps(row.get("requests_per_s")),
            *(ms((row.get(f"{name}_ms") or {}).get(p)) for name, p in (
                ("ttft", "p50"), ("ttft", "p99"), ("ttft_sent", "p50"), ("ttft_sent", "p99"),
                ("tpot", "p50"), ("tpot", "p99"), ("itl", "p50"), ("itl", "p99"),
                ("e2e", "p50"), ("e2e", "p99"))),
            tables.goodput(row["goodput_pct"]),
            tables.count(sum(row["stream_errors"].values())),
        ])
    return Table(COLUMNS, rows)


def bench_table(total: dict[str, Any]) -> Table:
    """The whole run in ``vllm bench serve``'s terms, to read beside its output."""
    rows = [[name, *(ms((total.get(key) or {}).get(p)) for p in ("mean", "p50", "p99"))]
            for name, key in BENCH_ROWS]
    return Table(BENCH_COLUMNS, rows)


def slo_text(run: RunAnalysis) -> str:
    """The goodput SLOs the profile set ("TTFT ≤ 2s and TPOT ≤ 100ms"), or ""."""
    profile = run.header.profile if isinstance(run.header.profile, dict) else {}
    llm = profile.get("llm") if isinstance(profile.get("llm"), dict) else {}
    slo = llm.get("slo") if isinstance(llm.get("slo"), dict) else {}
    parts = [f"{name.upper()} ≤ {slo[name]}" for name in ("ttft", "tpot") if slo.get(name)]
    return " and ".join(parts)


def estimated_note(total: dict[str, Any]) -> str:
    estimated = total.get("output_tokens_estimated") or 0
    if not estimated:
        return ""
    return (f"output tokens counted from chunks (the stream gave no usage), so estimated: "
            f"{estimated:,} of {total['output_tokens']:,}")


def llm_cards_html(run: RunAnalysis, llm: dict[str, Any]) -> str:
    """Cards of the whole run: TTFT, TPOT, ITL, tokens/s, goodput, tokens in/out."""
    total = llm["total"]
    ttft, sent, tpot, itl = (total[f"{n}_ms"] for n in ("ttft", "ttft_sent", "tpot", "itl"))

    def pair(values: dict[str, float | None]) -> str:
        return (f"{escape(ms(values['p50']))} / {escape(ms(values['p99']))} "
                "<small>ms</small>")

    slo = slo_text(run)
    estimated = "estimated" if total.get("output_tokens_estimated") else ""
    errors = sum(total["stream_errors"].values())
    return '<h3>Streaming (LLM), whole run</h3>' + cards_html([
        ("time to first token p50 / p99", pair(ttft),
         f"from the intended send; from the actual send {ms(sent['p50'])} / "
         f"{ms(sent['p99'])} ms"),
        ("time per output token p50 / p99", pair(tpot), "after the first token"),
        ("inter-token latency p50 / p99", pair(itl), "a chunk's gap over its tokens"),
        ("output tokens/s", f"{escape(tables.rps(total['output_tokens_per_s']))} "
         "<small>tokens/s</small>", f"goodput {tables.rps(total['goodput_per_s'])} req/s"),
        ("goodput", escape(tables.goodput(total["goodput_pct"])),
         f"requests within {slo}" if slo else "requests that met the SLOs"),
        ("tokens in / out", f"{escape(tables.count(total['input_tokens']))} / "
         f"{escape(tables.count(total['output_tokens']))}"
         + (f" <small>{estimated}</small>" if estimated else ""),
         (estimated_note(total) or "exact, from the stream's usage")
         + (f"; stream errors {errors:,}" if errors else "")),
    ])


def llm_table_html(run: RunAnalysis, llm: dict[str, Any] | None) -> str:
    """The LLM figures per phase with their notes; "" for a run that did not stream."""
    if llm is None:
        return ""
    total = llm.get("total", {})
    notes = [TTFT_NOTE + (f" SLOs: {slo_text(run)}." if slo_text(run) else ""),
             estimated_note(total)]
    if total.get("stream_errors"):
        notes.append("stream errors: " + ", ".join(
            f"{k} {v:,}" for k, v in total["stream_errors"].items()))
    bench = ""
    if "output_tokens" in total:
        bench = ("<h3>Whole run, as vllm bench serve prints it</h3>"
                 + table_html(bench_table(total), text_columns=[0])
                 + note_html(f"{total.get('ok', 0):,} successful requests, "
                             f"{tables.rps(total.get('requests_per_s'))} req/s, "
                             f"{tables.rps(total['output_tokens_per_s'])} output tokens/s; "
                             "from the actual send, as vLLM measures (the last row: from the "
                             "intended send, which vLLM does not report)"))
    return ("<h3>LLM figures per phase</h3>"
            + table_html(llm_table(llm), total_last=True, text_columns=[0])
            + "".join(note_html(n) for n in notes if n) + bench)


def llm_comparison_cards(comparison: Comparison) -> list[tuple[str, str, str]]:
    """TTFT p99, goodput and output tokens/s of both runs; none when neither streamed."""
    total = comparison.rows[-1]
    a, b = total.llm_a, total.llm_b
    if a is None and b is None:
        return []

    def both(show: Any, get: Any) -> str:
        return pair(*(show(get(s)) if s is not None else "—" for s in (a, b)))

    return [
        ("LLM TTFT p99, ms", both(ms, lambda s: s["ttft_ms"]["p99"]),
         "time to first token, from the intended send"),
        ("LLM goodput", both(tables.goodput, lambda s: s["goodput_pct"]),
         "requests that met the SLOs"),
        ("LLM output tokens/s", both(tables.rps, lambda s: s["output_tokens_per_s"]), ""),
    ]

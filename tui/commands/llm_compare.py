"""`loadwatch compare` for streaming runs: each run's LLM table (tokens, TTFT, TPOT, goodput).

Per run, the same table the headless summary prints, built from the run's ticks
(``metrics.compare.llm_summary``), so a recording without `summary.llm` (an interrupted run)
still has one. Nothing for runs that did not stream. The per-phase side-by-side LLM rows are in
the comparison tables themselves (``tui.report.tables.llm_rows``).
"""

from __future__ import annotations

from metrics.compare import RunAnalysis, llm_summary
from tui.console import llm_summary_lines

TTFT_NOTE = "TTFT in ms from the intended send; 'sent': from the actual send"


def llm_compare_lines(runs: list[RunAnalysis]) -> list[str]:
    lines: list[str] = []
    for run in runs:
        result = llm_summary(run)
        if result is None:
            continue
        lines += ["", f"LLM figures, {run.label}:", *llm_summary_lines(result, note=False)]
    if lines:
        lines.append(TTFT_NOTE)
    return lines

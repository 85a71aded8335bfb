"""`loadwatch compare` for streaming runs: each run's LLM table (tokens, TTFT, TPOT, goodput).

Per run, the same table the headless summary prints, built from the run's ticks, so a
recording without `summary.llm` (an interrupted run) still has one. Nothing for runs that did
not stream.
"""

from __future__ import annotations

from metrics.compare import RunAnalysis
from metrics.llm import LlmSummaryBuilder
from tui.headless import llm_summary_lines


def llm_compare_lines(runs: list[RunAnalysis]) -> list[str]:
    lines: list[str] = []
    for run in runs:
        builder = LlmSummaryBuilder()
        for tick in run.ticks:
            builder.add(tick)
        result = builder.result()
        if result is None:
            continue
        lines += ["", f"LLM figures, {run.label}:", *llm_summary_lines(result, note=False)]
    if lines:
        lines.append("TTFT in ms from the intended send; 'sent': from the actual send")
    return lines

"""The figures panel's LLM rows (streaming targets only): tokens, TTFT, TPOT, goodput.

Read from the last seconds' ticks with ``hdr.percentile_ms`` (not ``LlmAggregate.snapshot``,
whose means walk every value); nothing for a run that does not stream.
"""

from __future__ import annotations

from collections.abc import Iterable

from metrics import hdr
from metrics.llm import LlmAggregate
from metrics.records import Tick

Row = tuple[str, str]


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def llm_rows(title: str, ticks: Iterable[Tick]) -> list[Row]:
    """Rows for ``ticks`` (the last few seconds); [] when none of them streamed."""
    agg = LlmAggregate().extend(ticks)
    try:
        if not agg.streaming:
            return []
        seconds = max(agg.seconds, 1)
        ttft, tpot = agg.histograms["ttft"], agg.histograms["tpot"]
        goodput = f"{100 * agg.goodput / agg.completed:.0f} %" if agg.completed else "-"
        rows: list[Row] = [
            (title, ""),
            ("tokens in/out", f"{agg.input_tokens / seconds:,.0f} / "
                              f"{agg.output_tokens / seconds:,.0f} /s"),
            ("TTFT p50/p99", f"{_ms(hdr.percentile_ms(ttft, 50))} / "
                             f"{_ms(hdr.percentile_ms(ttft, 99))}"),
            ("TPOT p50", _ms(hdr.percentile_ms(tpot, 50))),
            ("goodput", goodput),
        ]
        errors = sum(agg.stream_errors.values())
        if errors:
            rows.append(("stream errors", f"{errors}"))
        return rows
    finally:
        agg.release()

"""The serving engine's figures over a window of a run (a phase, the whole run), from its
recorded datapoints (``metrics.engine``): what report and compare show beside the client's.

Gauges give their mean and peak over the window's scrapes; the engine's latency histograms
were turned into percentiles per scrape interval, and percentiles of intervals cannot be
merged, so a window gives the mean (weighted by each interval's observations) and the worst
interval's p99, as CloudWatch's ModelLatency p99 is shown per period.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from metrics.engine import E2E, KV_CACHE, PREFIX_HITS, RUNNING, TOKENS, TPOT, TTFT, WAITING

Series = dict[tuple[str, str], dict[float, float]]  # (metric, stat) -> elapsed -> value
GAUGES = (RUNNING, WAITING, KV_CACHE, PREFIX_HITS)
LATENCIES = (TTFT, TPOT, E2E)


def engine_window(series: Series, inside: Callable[[float], bool]) -> dict[str, Any] | None:
    """The window's figures, or None when the run recorded no engine series in it.

    ``{"RequestsRunning": {"mean", "max"}, ..., "TimeToFirstToken": {"avg_ms",
    "p99_ms_worst", "samples"}, "GenerationTokens": {"per_s"}}``; a role the engine does not
    publish is absent.
    """
    def values(metric: str, stat: str) -> dict[float, float]:
        return {x: v for x, v in series.get((metric, stat), {}).items() if inside(x)}

    out: dict[str, Any] = {}
    for role in GAUGES:
        found = list(values(role, "Value").values())
        if found:
            out[role] = {"mean": sum(found) / len(found), "max": max(found)}
    for role in LATENCIES:
        means, counts = values(role, "Average"), values(role, "SampleCount")
        p99 = list(values(role, "p99").values())
        weight = sum(counts.get(x, 0.0) for x in means)
        if not means:
            continue
        average = (sum(v * counts.get(x, 0.0) for x, v in means.items()) / weight
                   if weight else sum(means.values()) / len(means))
        out[role] = {"avg_ms": average, "p99_ms_worst": max(p99) if p99 else None,
                     "samples": int(weight)}
    rates = list(values(TOKENS, "Rate").values())
    if rates:
        out[TOKENS] = {"per_s": sum(rates) / len(rates)}
    return out or None

"""The streaming LLM fields of ticks: merged across workers, aggregated over a window or phase.

Kept beside ``metrics.stats`` rather than inside it: ``merge_llm`` completes a tick that
``merge_ticks`` built, and ``LlmAggregate`` is added to alongside an ``Aggregate``. Ticks of a
non-streaming run have these fields empty, and every function here is then a no-op.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from metrics import hdr
from metrics.records import OK, Tick

HISTOGRAMS = ("ttft", "ttft_sent", "itl", "tpot")
COUNTERS = ("output_tokens", "input_tokens", "output_tokens_estimated", "goodput",
            "interrupted")


def is_streaming(tick: Tick) -> bool:
    """A tick with LLM figures in it (any histogram or counter set). Not ``interrupted``
    alone: plain requests cut by the operator's stop are counted there too."""
    return bool(tick.ttft or tick.output_tokens or tick.stream_errors or tick.input_tokens)


def merge_llm(merged: Tick, parts: list[Tick]) -> Tick:
    """Set ``merged``'s LLM fields from the same second of several workers; returns it."""
    if len(parts) == 1 and merged is parts[0]:
        return merged
    for name in HISTOGRAMS:
        encoded = [getattr(p, name) for p in parts if getattr(p, name)]
        setattr(merged, name, hdr.merge_encoded(encoded) if encoded else "")
    for name in COUNTERS:
        setattr(merged, name, sum(getattr(p, name) for p in parts))
    errors: Counter[str] = Counter()
    for part in parts:
        errors.update(part.stream_errors)
    merged.stream_errors = dict(errors)
    return merged


@dataclass
class LlmAggregate:
    """LLM counters and histograms over any run of ticks."""

    seconds: int = 0  # ticks, draining ones included: streams keep producing tokens then
    completed: int = 0
    output_tokens: int = 0
    input_tokens: int = 0
    output_tokens_estimated: int = 0
    goodput: int = 0
    interrupted: int = 0  # streams cut by the operator's stop: not in ``completed``
    ok: int = 0  # streams that ended whole
    stream_errors: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, hdr.Histogram] = field(
        default_factory=lambda: {name: hdr.new_histogram() for name in HISTOGRAMS})
    # End to end from the actual send, of ok streams: the tick's service time (vLLM's E2EL).
    e2e: hdr.Histogram = field(default_factory=hdr.new_histogram)

    def add(self, tick: Tick) -> None:
        self.seconds += 1
        self.completed += tick.completed
        self.ok += tick.outcomes.get(OK, 0)
        self.output_tokens += tick.output_tokens
        self.input_tokens += tick.input_tokens
        self.output_tokens_estimated += tick.output_tokens_estimated
        self.goodput += tick.goodput
        self.interrupted += tick.interrupted
        self.stream_errors.update(tick.stream_errors)
        for name, histogram in self.histograms.items():
            encoded = getattr(tick, name)
            if encoded:
                hdr.merge((encoded,), into=histogram)
        if tick.service and is_streaming(tick):
            hdr.merge((tick.service,), into=self.e2e)

    def extend(self, ticks: Iterable[Tick]) -> LlmAggregate:
        for tick in ticks:
            self.add(tick)
        return self

    def release(self) -> None:
        for histogram in (*self.histograms.values(), self.e2e):
            hdr.release(histogram)

    @property
    def streaming(self) -> bool:
        return bool(self.output_tokens or self.input_tokens or self.stream_errors)

    def snapshot(self) -> dict[str, Any]:
        """The figures: tokens, tokens/s, TTFT/TPOT/ITL percentiles in ms, goodput (% of the
        requests that ended, whatever their outcome; streams cut by the operator's stop,
        ``interrupted``, did not end and are left out). ``e2e_ms`` (from the actual send) and
        ``requests_per_s`` (ok streams per second) are the rest of what ``vllm bench serve``
        prints; rates are per second of ticks, the drain included, as its duration is."""
        seconds = max(self.seconds, 1)
        ended = self.completed
        return {
            "output_tokens": self.output_tokens,
            "input_tokens": self.input_tokens,
            "output_tokens_estimated": self.output_tokens_estimated,
            "output_tokens_per_s": self.output_tokens / seconds,
            "ok": self.ok,
            "requests_per_s": self.ok / seconds,
            "goodput": self.goodput,
            "goodput_per_s": self.goodput / seconds,
            "goodput_pct": 100.0 * self.goodput / ended if ended else None,
            "stream_errors": dict(self.stream_errors.most_common()),
            "interrupted": self.interrupted,
            **{f"{name}_ms": hdr.summary_ms(h) for name, h in self.histograms.items()},
            "e2e_ms": hdr.summary_ms(self.e2e),
        }


class LlmSummaryBuilder:
    """Per-phase and total LLM figures, tick by tick (``metrics.stats.SummaryBuilder``'s twin);
    its result goes into the footer's summary as ``llm`` when the run streamed."""

    def __init__(self) -> None:
        self.total = LlmAggregate()
        self.phases: dict[int, tuple[str | None, LlmAggregate]] = {}

    def add(self, tick: Tick) -> None:
        self.total.add(tick)
        if tick.phase_index not in self.phases:
            self.phases[tick.phase_index] = (tick.phase, LlmAggregate())
        self.phases[tick.phase_index][1].add(tick)

    def result(self) -> dict[str, Any] | None:
        if not self.total.streaming:
            return None
        return {
            "phases": [{"index": index, "name": name, **agg.snapshot()}
                       for index, (name, agg) in sorted(self.phases.items())],
            "total": self.total.snapshot(),
        }


# The chartable LLM figures of a tick (metrics.timeline adds them to its client series).
LLM_SERIES = ("ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms", "output_tps",
              "goodput_rps")
LLM_TAKE_MAX = frozenset({"ttft_p99_ms", "tpot_p99_ms"})  # merged neighbours keep the worse


def llm_point(tick: Tick) -> dict[str, float | None]:
    """TTFT and TPOT p50/p99 (ms), output tokens and goodput per second; {} if none."""
    if not is_streaming(tick):
        return {}
    point: dict[str, float | None] = {"output_tps": float(tick.output_tokens),
                                      "goodput_rps": float(tick.goodput)}
    for name, keys in (("ttft", ((50, "ttft_p50_ms"), (99, "ttft_p99_ms"))),
                       ("tpot", ((50, "tpot_p50_ms"), (99, "tpot_p99_ms")))):
        encoded = getattr(tick, name)
        if encoded:
            histogram = hdr.decode(encoded)
            values = hdr.percentiles_us(histogram, [p for p, _ in keys])
            for (_, key), value in zip(keys, values, strict=True):
                point[key] = value / 1000
            hdr.release(histogram)
    return point


# `loadwatch export --csv`: the client file's extra columns when the recording streamed.
LLM_COLUMNS = ["output_tokens_per_s", "input_tokens_per_s", "output_tokens_estimated",
               "goodput_per_s", "stream_errors_per_s", "ttft_p50_ms", "ttft_p99_ms",
               "ttft_sent_p50_ms", "ttft_sent_p99_ms", "tpot_p50_ms", "tpot_p99_ms",
               "itl_p50_ms", "itl_p99_ms"]


def llm_cells(tick: Tick) -> list[object]:
    """One tick's values for ``LLM_COLUMNS`` (ms rounded to the µs; empty: no sample)."""
    cells: list[object] = [tick.output_tokens, tick.input_tokens, tick.output_tokens_estimated,
                           tick.goodput, sum(tick.stream_errors.values())]
    wanted = (50, 99)
    for name in ("ttft", "ttft_sent", "tpot", "itl"):
        encoded = getattr(tick, name)
        if not encoded:
            cells += [""] * len(wanted)
            continue
        histogram = hdr.decode(encoded)
        cells += [round(v / 1000, 3) for v in hdr.percentiles_us(histogram, wanted)]
        hdr.release(histogram)
    return cells

"""What a load worker's streamed requests give, per elapsed second (``LlmCounter``): TTFT, ITL,
TPOT, tokens, goodput against the SLOs, interrupted streams and stream errors.

The streaming twin of ``driver.load.bucket``: ``driver.load.stream_request`` records each
stream here, and the worker's ``RequestCounter`` closes the second with ``fill``, which puts
the second's figures into the tick's LLM fields and starts the next second's.
"""

from __future__ import annotations

import math

from driver.http import StreamResult
from driver.profile import Prompt
from metrics import hdr
from metrics.records import OK, Tick


class LlmCounts:
    """One elapsed second of streams: the tick's LLM fields before encoding."""

    __slots__ = ("goodput", "input_tokens", "interrupted", "itl", "output_tokens",
                 "output_tokens_estimated", "stream_errors", "tpot", "ttft", "ttft_sent")

    def __init__(self) -> None:
        self.ttft = hdr.new_histogram()
        self.ttft_sent = hdr.new_histogram()
        self.itl = hdr.new_histogram()
        self.tpot = hdr.new_histogram()
        self.output_tokens = 0
        self.input_tokens = 0
        self.output_tokens_estimated = 0
        self.goodput = 0
        self.interrupted = 0
        self.stream_errors: dict[str, int] = {}

    def histograms(self) -> tuple[hdr.Histogram, ...]:
        return (self.ttft, self.ttft_sent, self.itl, self.tpot)


class LlmCounter:
    """One worker's stream figures: the current second's ``LlmCounts``, closed by ``fill``.
    A stream within both SLOs (seconds; None: no objective) counts as goodput."""

    def __init__(self, slo_ttft: float | None, slo_tpot: float | None) -> None:
        self.slo_ttft = slo_ttft or math.inf
        self.slo_tpot = slo_tpot or math.inf
        self.counts = LlmCounts()

    def itl(self, microseconds: int, count: int) -> None:
        """A stream reader's ``on_itl``: ``count`` tokens ``microseconds`` apart."""
        self.counts.itl.record_value(microseconds, count)

    def tokens(self, result: StreamResult, prompt: Prompt) -> None:
        counts = self.counts
        counts.output_tokens += result.output_tokens
        if result.tokens_estimated:
            counts.output_tokens_estimated += result.output_tokens
        counts.input_tokens += (result.input_tokens if result.input_tokens is not None
                                else prompt.input_words)

    def record(self, result: StreamResult, prompt: Prompt) -> None:
        """A stream that ended (its tokens, and its timings if it went well)."""
        self.tokens(result, prompt)
        counts = self.counts
        if result.outcome != OK:
            errors = counts.stream_errors
            errors[result.outcome] = errors.get(result.outcome, 0) + 1
            return
        if result.ttft_s is not None:
            counts.ttft.record_value(int(result.ttft_s * 1e6))
            counts.ttft_sent.record_value(int((result.ttft_sent_s or 0.0) * 1e6))
            tpot = result.tpot_s
            if tpot is not None:
                counts.tpot.record_value(int(tpot * 1e6))
            if result.ttft_s <= self.slo_ttft and (tpot or 0.0) <= self.slo_tpot:
                counts.goodput += 1

    def interrupted(self) -> None:
        """A stream the operator's kill cut: counted apart, not as an error."""
        self.counts.interrupted += 1

    def fill(self, tick: Tick) -> None:
        """Close the second: its counts into ``tick``, and a fresh set for the next."""
        counts, self.counts = self.counts, LlmCounts()
        tick.ttft = hdr.encode(counts.ttft)
        tick.ttft_sent = hdr.encode(counts.ttft_sent)
        tick.itl = hdr.encode(counts.itl)
        tick.tpot = hdr.encode(counts.tpot)
        tick.output_tokens = counts.output_tokens
        tick.input_tokens = counts.input_tokens
        tick.output_tokens_estimated = counts.output_tokens_estimated
        tick.goodput = counts.goodput
        tick.interrupted = counts.interrupted
        tick.stream_errors = counts.stream_errors
        for histogram in counts.histograms():
            hdr.release(histogram)

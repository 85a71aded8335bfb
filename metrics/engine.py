"""A serving engine's own Prometheus metrics (vLLM, TGI, SGLang, Triton) as ``Datapoint`` records.

Pure: text in, records out. ``parse_exposition`` reads one ``/metrics`` page with the official
parser (``prometheus_client.parser``); ``EngineReader`` turns each page, against the one before
it, into datapoints of namespace ``ENGINE``: gauges as read (``Value``), counters as a rate per
second over the interval, histograms as that interval's percentiles from the bucket deltas
(``p50``, ``p90``, ``p99``, ``Average``, ``SampleCount``), as Prometheus' ``histogram_quantile``
estimates them. Units are converted once, here: seconds and microseconds to ms, fractions to
percent. Each engine's known series (``ENGINES``) are named by role, the same for every engine
(``RequestsRunning``, ``KvCacheUsage``, ``TimeToFirstToken`` ...); series the user names keep
their own name. The names come from each engine's source and documentation (docs/engine-metrics.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from metrics.records import Datapoint

ENGINE = "Engine"  # Datapoint.namespace of every engine series
# Roles: one name per idea, whatever the engine calls it.
RUNNING = "RequestsRunning"
WAITING = "RequestsWaiting"
KV_CACHE = "KvCacheUsage"
PREFIX_HITS = "PrefixCacheHitRate"
TTFT = "TimeToFirstToken"
TPOT = "TimePerOutputToken"
E2E = "RequestLatency"
TOKENS = "GenerationTokens"
ROLES = (RUNNING, WAITING, KV_CACHE, PREFIX_HITS, TTFT, TPOT, E2E, TOKENS)
HISTOGRAM_STATS = ("p50", "p90", "p99", "Average", "SampleCount")
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))

GAUGE = "gauge"
COUNTER = "counter"  # a rate per second over the interval
HISTOGRAM = "histogram"  # percentiles of the interval's observations
RATIO = "ratio"  # delta(numerator) / delta(denominator) over the interval (counters)
GAUGE_RATIO = "gauge_ratio"  # numerator / denominator, both gauges, as read
SUM_RATE = "sum_rate"  # a histogram's _sum as a rate per second (TGI's generated tokens)
COUNTER_MEAN = "counter_mean"  # delta(cumulative time) / delta(requests) (Triton's latency)

_SELECTOR = re.compile(r'^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$')
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Selector:
    """A series name with optional exact label matchers: ``name{label="value",...}``."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Raises ValueError saying what is wrong with ``text``."""
        match = _SELECTOR.match(text)
        if match is None:
            raise ValueError(f"not a series name: {text!r} (expected name or "
                             'name{label="value"})')
        name, inner = match.group(1), match.group(2)
        labels: list[tuple[str, str]] = []
        rest = (inner or "").strip()
        while rest:
            pair = _MATCHER.match(rest)
            if pair is None:
                raise ValueError(f'bad labels in {text!r}: expected label="value", ...')
            labels.append((pair.group(1), pair.group(2)))
            rest = rest[pair.end():].strip()
        return cls(name, tuple(labels))

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels)

    def __str__(self) -> str:
        if not self.labels:
            return self.name
        return self.name + "{" + ",".join(f'{k}="{v}"' for k, v in self.labels) + "}"


def _s(text: str) -> Selector:
    return Selector.parse(text)


@dataclass(frozen=True, slots=True)
class Source:
    """Where one role's value comes from in one engine's exposition, and its unit after."""

    kind: str
    series: Selector
    unit: str
    scale: float = 1.0
    of: Selector | None = None  # the denominator of RATIO, GAUGE_RATIO, COUNTER_MEAN


@dataclass(frozen=True, slots=True)
class KnownSeries:
    """A role and its sources, first present first (newer engine versions renamed some)."""

    role: str
    sources: tuple[Source, ...]


_MS = 1000.0  # seconds to milliseconds
ENGINES: dict[str, tuple[KnownSeries, ...]] = {
    # vllm/v1/metrics/loggers.py (0.32); the V0 names as the fallback.
    "vllm": (
        KnownSeries(RUNNING, (Source(GAUGE, _s("vllm:num_requests_running"), "count"),)),
        KnownSeries(WAITING, (Source(GAUGE, _s("vllm:num_requests_waiting"), "count"),)),
        KnownSeries(KV_CACHE, (
            Source(GAUGE, _s("vllm:kv_cache_usage_perc"), "percent", 100.0),
            Source(GAUGE, _s("vllm:gpu_cache_usage_perc"), "percent", 100.0))),
        KnownSeries(PREFIX_HITS, (
            Source(RATIO, _s("vllm:prefix_cache_hits"), "percent", 100.0,
                   of=_s("vllm:prefix_cache_queries")),
            Source(GAUGE, _s("vllm:gpu_prefix_cache_hit_rate"), "percent", 100.0))),
        KnownSeries(TTFT, (Source(HISTOGRAM, _s("vllm:time_to_first_token_seconds"), "ms",
                                  _MS),)),
        KnownSeries(TPOT, (
            Source(HISTOGRAM, _s("vllm:request_time_per_output_token_seconds"), "ms", _MS),
            Source(HISTOGRAM, _s("vllm:time_per_output_token_seconds"), "ms", _MS))),
        KnownSeries(E2E, (Source(HISTOGRAM, _s("vllm:e2e_request_latency_seconds"), "ms",
                                 _MS),)),
        KnownSeries(TOKENS, (Source(COUNTER, _s("vllm:generation_tokens"), "tokens/s"),)),
    ),
    # TGI's docs/source/reference/metrics.md: no TTFT, KV-cache or prefix-cache series.
    "tgi": (
        KnownSeries(RUNNING, (Source(GAUGE, _s("tgi_batch_current_size"), "count"),)),
        KnownSeries(WAITING, (Source(GAUGE, _s("tgi_queue_size"), "count"),)),
        KnownSeries(TPOT, (Source(HISTOGRAM, _s("tgi_request_mean_time_per_token_duration"),
                                  "ms", _MS),)),
        KnownSeries(E2E, (Source(HISTOGRAM, _s("tgi_request_duration"), "ms", _MS),)),
        KnownSeries(TOKENS, (Source(SUM_RATE, _s("tgi_request_generated_tokens"),
                                    "tokens/s"),)),
    ),
    # SGLang's production metrics (docs.sglang.io, references/production_metrics).
    "sglang": (
        KnownSeries(RUNNING, (Source(GAUGE, _s("sglang:num_running_reqs"), "count"),)),
        KnownSeries(WAITING, (Source(GAUGE, _s("sglang:num_queue_reqs"), "count"),)),
        KnownSeries(KV_CACHE, (Source(GAUGE, _s("sglang:token_usage"), "percent", 100.0),)),
        KnownSeries(PREFIX_HITS, (Source(GAUGE, _s("sglang:cache_hit_rate"), "percent",
                                         100.0),)),
        KnownSeries(TTFT, (Source(HISTOGRAM, _s("sglang:time_to_first_token_seconds"), "ms",
                                  _MS),)),
        KnownSeries(TPOT, (
            Source(HISTOGRAM, _s("sglang:inter_token_latency_seconds"), "ms", _MS),
            Source(HISTOGRAM, _s("sglang:time_per_output_token_seconds"), "ms", _MS))),
        KnownSeries(E2E, (Source(HISTOGRAM, _s("sglang:e2e_request_latency_seconds"), "ms",
                                 _MS),)),
        KnownSeries(TOKENS, (Source(COUNTER, _s("sglang:generation_tokens"), "tokens/s"),)),
    ),
    # Triton's docs/user_guide/metrics.md and the TensorRT-LLM backend's nv_trt_llm_* gauges.
    # nv_inference_first_response_histogram_ms is the first *response*, TTFT for a streamed
    # decoupled model; latency from the cumulative counters is a mean, not a percentile.
    "triton": (
        KnownSeries(RUNNING, (
            Source(GAUGE, _s('nv_trt_llm_request_metrics{request_type="scheduled"}'), "count"),
            Source(GAUGE, _s("nv_inference_pending_request_count"), "count"))),
        KnownSeries(WAITING, (
            Source(GAUGE, _s('nv_trt_llm_request_metrics{request_type="waiting"}'), "count"),)),
        KnownSeries(KV_CACHE, (
            Source(GAUGE, _s('nv_trt_llm_kv_cache_block_metrics'
                             '{kv_cache_block_type="fraction"}'), "percent", 100.0),
            Source(GAUGE_RATIO, _s('nv_trt_llm_kv_cache_block_metrics'
                                   '{kv_cache_block_type="used"}'), "percent", 100.0,
                   of=_s('nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max"}')))),
        KnownSeries(TTFT, (Source(HISTOGRAM, _s("nv_inference_first_response_histogram_ms"),
                                  "ms"),)),
        KnownSeries(E2E, (Source(COUNTER_MEAN, _s("nv_inference_request_duration_us"), "ms",
                                 0.001, of=_s("nv_inference_request_success")),)),
    ),
}
# How an exposition says which engine served it (the first family name's prefix).
_PREFIXES = (("vllm:", "vllm"), ("sglang:", "sglang"), ("tgi_", "tgi"),
             ("nv_inference_", "triton"), ("nv_trt_llm_", "triton"))


class ExpositionError(ValueError):
    """The page is not Prometheus text (the parser's words), or holds no series."""


@dataclass
class Snapshot:
    """One scrape: every sample by its name, and the type of the family it belongs to."""

    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # sample name -> family type

    def values(self, name: str, selector: Selector) -> list[tuple[dict[str, str], float]]:
        return [(labels, value) for labels, value in self.samples.get(name, ())
                if selector.matches(labels)]

    def total(self, name: str, selector: Selector) -> float | None:
        """The sum over every labelled series of ``name`` that ``selector`` matches."""
        found = self.values(name, selector)
        return sum(v for _, v in found) if found else None

    def mean(self, name: str, selector: Selector) -> float | None:
        found = self.values(name, selector)
        return sum(v for _, v in found) / len(found) if found else None

    def counter(self, selector: Selector) -> float | None:
        for name in (selector.name + "_total", selector.name):
            value = self.total(name, selector)
            if value is not None:
                return value
        return None

    def buckets(self, selector: Selector) -> dict[float, float]:
        """Cumulative counts by upper bound, summed over the matched series."""
        out: dict[float, float] = {}
        for labels, value in self.values(selector.name + "_bucket", selector):
            try:
                upper = float(labels.get("le", "nan"))
            except ValueError:
                continue
            if not math.isnan(upper):
                out[upper] = out.get(upper, 0.0) + value
        return out

    def kind_of(self, selector: Selector) -> str | None:
        """What a user-named series is here: histogram, counter, gauge; None if absent."""
        if self.values(selector.name + "_bucket", selector):
            return HISTOGRAM
        if self.values(selector.name + "_total", selector) or (
                self.values(selector.name, selector)
                and self.types.get(selector.name) == COUNTER):
            return COUNTER
        if self.values(selector.name, selector):
            return GAUGE
        return None

    def engine(self) -> str | None:
        """The engine whose prefix the series names carry, if any."""
        for name in self.samples:
            for prefix, engine in _PREFIXES:
                if name.startswith(prefix):
                    return engine
        return None

    def names(self) -> list[str]:
        return sorted(self.samples)


def parse_exposition(text: str) -> Snapshot:
    """One ``/metrics`` page; raises ``ExpositionError`` if it is not Prometheus text."""
    # Imported here: the timeline and every view import this module for its names only.
    from prometheus_client.parser import text_string_to_metric_families

    snapshot = Snapshot()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # a counter's or histogram's start time, not a value
                snapshot.samples.setdefault(sample.name, []).append(
                    (dict(sample.labels), float(sample.value)))
                snapshot.types[sample.name] = family.type
    except ValueError as exc:  # the parser's only complaint: it names the line it stopped on
        raise ExpositionError(f"not Prometheus text: {' '.join(str(exc).split())[:160]}") \
            from exc
    if not snapshot.samples:
        raise ExpositionError("no series in the page")
    return snapshot


def bucket_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of observations counted in cumulative ``buckets`` (upper bound ->
    count), interpolated linearly within its bucket as Prometheus' ``histogram_quantile``
    does; a rank in the +Inf bucket gives the highest finite bound."""
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if math.isinf(upper):
                return lower
            if count == below:
                return upper
            if lower == 0.0 and upper <= 0:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def _delta(now: float | None, before: float | None) -> float | None:
    """now - before for a counter; None when either is missing or the counter was reset."""
    if now is None or before is None or now < before:
        return None
    return now - before


class EngineReader:
    """Turns each scrape, against the previous one, into datapoints (see the module's note).

    ``engine`` is one of ``ENGINES`` or None to tell it from the series names; ``series`` are
    the user's own. ``unknown`` holds the user's series not found in the latest page.
    """

    def __init__(self, engine: str | None = None, series: Iterable[Selector] = (),
                 interval: float = 5.0) -> None:
        if engine is not None and engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        self.engine = engine
        self.series = tuple(series)
        self.interval = interval  # a gauge read first stands for this long
        self.unknown: list[Selector] = []
        self.found_roles: list[str] = []  # the engine's roles the latest page had a series for
        self._before: Snapshot | None = None
        self._before_t = 0.0

    def read(self, snapshot: Snapshot, t: float) -> list[Datapoint]:
        """Datapoints for a scrape at epoch ``t``; interval figures need a previous scrape."""
        if self.engine is None:
            self.engine = snapshot.engine()
        before, t0 = self._before, self._before_t
        self._before, self._before_t = snapshot, t
        out: list[Datapoint] = []
        self.found_roles = []
        for known in ENGINES.get(self.engine or "", ()):
            for source in known.sources:
                points = self._points(known.role, source, snapshot, before, t0, t)
                if points is not None:
                    out += points
                    self.found_roles.append(known.role)
                    break
        self.unknown = []
        for selector in self.series:
            kind = snapshot.kind_of(selector)
            if kind is None:
                self.unknown.append(selector)
                continue
            unit, scale = _unit_of(selector.name, kind)
            points = self._points(str(selector), Source(kind, selector, unit, scale),
                                  snapshot, before, t0, t)
            out += points or []
        return out

    def _points(self, metric: str, source: Source, now: Snapshot, before: Snapshot | None,
                t0: float, t: float) -> list[Datapoint] | None:
        """The datapoints of one source; None when the page lacks it (try the next source),
        [] when it is there but this interval has nothing to say."""
        sel, kind = source.series, source.kind
        period = max(1, round(t - t0 if before is not None else self.interval))

        def point(stat: str, value: float, at: float, unit: str = source.unit) -> Datapoint:
            return Datapoint(t=at, period=period, namespace=ENGINE, metric=metric, stat=stat,
                             value=value, unit=unit)

        if kind == GAUGE:
            # A fraction (KV cache) is averaged over its label sets (vLLM's engines), a count
            # (requests running) added up.
            value = now.mean(sel.name, sel) if source.unit == "percent" else \
                now.total(sel.name, sel)
            return None if value is None else [point("Value", value * source.scale, t)]
        if kind == GAUGE_RATIO:
            num, den = now.total(sel.name, sel), now.total(source.of.name, source.of) \
                if source.of else None
            if num is None or den is None:
                return None
            return [point("Value", num / den * source.scale, t)] if den > 0 else []
        if kind in (COUNTER, RATIO, COUNTER_MEAN):
            value = now.counter(sel)
            of = now.counter(source.of) if source.of is not None else None
            if value is None or (source.of is not None and of is None):
                return None
            if before is None or t <= t0:
                return []
            delta = _delta(value, before.counter(sel))
            if delta is None:
                return []
            if kind == COUNTER:
                return [point("Rate", delta / (t - t0) * source.scale, t0)]
            den = _delta(of, before.counter(source.of)) if source.of is not None else None
            if not den:
                return []
            stat = "Value" if kind == RATIO else "Average"
            return [point(stat, delta / den * source.scale, t0)]
        if kind == SUM_RATE:
            value = now.total(sel.name + "_sum", sel)
            if value is None:
                return None
            if before is None or t <= t0:
                return []
            delta = _delta(value, before.total(sel.name + "_sum", sel))
            return [] if delta is None else [point("Rate", delta / (t - t0), t0)]
        if kind == HISTOGRAM:
            buckets = now.buckets(sel)
            if not buckets:
                return None
            if before is None:
                return []
            old = before.buckets(sel)
            if set(old) != set(buckets):
                return []  # the engine restarted with other buckets: nothing to subtract
            deltas = {le: buckets[le] - old[le] for le in buckets}
            if any(d < 0 for d in deltas.values()):
                return []  # a reset
            count = deltas.get(math.inf, 0.0)
            if count <= 0:
                return []
            out = [point(stat, q * source.scale, t0) for stat, q in
                   ((stat, bucket_quantile(q, deltas)) for stat, q in QUANTILES)
                   if q is not None]
            total = _delta(now.total(sel.name + "_sum", sel),
                           before.total(sel.name + "_sum", sel))
            if total is not None:
                out.append(point("Average", total / count * source.scale, t0))
            out.append(point("SampleCount", count, t0, "count"))
            return out
        raise ValueError(f"unknown source kind {kind!r}")


def _unit_of(name: str, kind: str) -> tuple[str, float]:
    """The unit of a user-named series after conversion, and the factor to it, by the
    Prometheus naming convention of its name's suffix."""
    base = name.removesuffix("_total")
    for suffix, unit, scale in (("_seconds", "ms", _MS), ("_us", "ms", 0.001),
                                ("_ms", "ms", 1.0)):
        if base.endswith(suffix) and kind == HISTOGRAM:
            return unit, scale
    if kind == COUNTER:
        return "per second", 1.0
    return "", 1.0


def known_roles(engine: str | None) -> list[str]:
    """The roles an engine's exposition can fill, in display order."""
    return [k.role for k in ENGINES.get(engine or "", ())]

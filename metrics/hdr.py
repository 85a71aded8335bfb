"""HDR histograms: the one way loadwatch keeps latency distributions.

Values are integer microseconds from 1 µs to 5 minutes at 3 significant digits, as the design
asks. Histograms travel between processes and into recordings as the standard HdrHistogram
compressed encoding (base64 text), so any HdrHistogram library can read them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 300_000_000  # 5 minutes
SIGNIFICANT_DIGITS = 3

Histogram = HdrHistogram


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def encode(histogram: HdrHistogram) -> str:
    """Compressed, base64 text form; an empty histogram encodes to the empty string."""
    if histogram.get_total_count() == 0:
        return ""
    return histogram.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    if not text:
        return new_histogram()
    return HdrHistogram.decode(text.encode("ascii"))


def release(histogram: HdrHistogram) -> None:
    """Let a histogram we are done with go at once, instead of at the next full collection.

    An hdrh histogram and its encoder point at each other, so only the cycle collector frees
    one, and its 160 KB counts array waits for it: a process decoding a few histograms a
    second grew by megabytes an hour. A released histogram can no longer be encoded.
    """
    histogram.encoder.histogram = None


def record_many(histogram: HdrHistogram, values: Sequence[int]) -> int:
    """Record integer ``values`` as ``record_value`` would one by one; how many it rejected.

    hdrh records a value in about 2 µs of pure Python; the worker keeps a second's values in
    a list and folds them in here once, at the tick: the same counts, total, min and max
    (``tests/metrics/test_hdr_bulk.py`` checks it), in numpy.
    """
    if len(values) == 0:  # a list or a numpy array
        return 0
    array = np.asarray(values, dtype=np.int64)
    # Beyond 2**52 a float no longer holds the value exactly; such values are far out of range.
    usable = array[(array >= 0) & (array < 2**52)]
    # hdrh: pow2ceiling = 64 - clz(value | sub_bucket_mask), the bit length; frexp's exponent
    # is the bit length of a positive integer held exactly in a float.
    bits = np.frexp((usable | histogram.sub_bucket_mask).astype(np.float64))[1].astype(np.int64)
    bucket = bits - histogram.unit_magnitude - (histogram.sub_bucket_half_count_magnitude + 1)
    sub_bucket = usable >> (bucket + histogram.unit_magnitude)
    index = (((bucket + 1) << histogram.sub_bucket_half_count_magnitude)
             + sub_bucket - histogram.sub_bucket_half_count)
    inside = index < histogram.counts_len
    index, usable = index[inside], usable[inside]
    if len(index):
        # Only as long as the largest index: no 160 KB temporary (and its page faults).
        added = np.bincount(index)
        _counts(histogram)[: len(added)] += added.astype(np.uint64)
        histogram.total_count += len(index)
        histogram.min_value = min(histogram.min_value, int(usable.min()))
        histogram.max_value = max(histogram.max_value, int(usable.max()))
    return len(array) - len(index)


def encode_values(values: Sequence[int]) -> tuple[str, int]:
    """The encoding of a histogram of ``values`` (``encode``), and how many were rejected.

    One scratch histogram is cleared and reused: making one costs about 130 µs.
    """
    if len(values) == 0:  # a list or a numpy array
        return "", 0
    histogram = _scratch()
    _counts(histogram)[:] = 0
    histogram.total_count, histogram.min_value, histogram.max_value = 0, sys.maxsize, 0
    rejected = record_many(histogram, values)
    return encode(histogram), rejected


@cache
def _scratch() -> HdrHistogram:
    return new_histogram()


def merge(parts: Iterable[HdrHistogram | str], into: HdrHistogram | None = None) -> HdrHistogram:
    """Add histograms (objects or encoded text) into one; `into` is changed in place if given.

    Histograms decoded here from text are released after use.
    """
    total = into if into is not None else new_histogram()
    for part in parts:
        decoded = isinstance(part, str)
        if decoded:
            if not part:
                continue
            part = decode(part)
        if part.get_total_count():
            total.add(part)
        if decoded:
            release(part)
    return total


def merge_encoded(parts: Iterable[HdrHistogram | str]) -> str:
    """The encoding of the merge of ``parts``."""
    total = merge(parts)
    text = encode(total)
    release(total)
    return text


@cache
def _bucket_values() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every counts index: its lowest, highest and median equivalent value.

    hdrh answers percentiles and the mean by walking all 20,480 buckets in Python (about 1 ms
    and 70 ms per histogram); with these tables numpy does the same sums in microseconds and
    returns the same values, which ``tests/metrics/test_stats.py`` checks against hdrh.
    """
    h = new_histogram()
    values = [h.get_value_from_index(i) for i in range(h.counts_len)]
    lowest = np.array([h.get_lowest_equivalent_value(v) for v in values], dtype=np.float64)
    highest = np.array([h.get_highest_equivalent_value(v) for v in values], dtype=np.float64)
    # hdrh's mean weighs each bucket by the median of its range, reached from its top.
    median = np.array([h._hdr_median_equiv_value(h.get_highest_equivalent_value(v))
                       for v in values], dtype=np.float64)
    return lowest, highest, median


def _counts(histogram: HdrHistogram) -> np.ndarray:
    return np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]


def percentiles_us(histogram: HdrHistogram, percentiles: Sequence[float]) -> list[float]:
    """Values at ``percentiles`` in microseconds, exactly as hdrh's own lookup gives them."""
    total = histogram.get_total_count()
    lowest, highest, _ = _bucket_values()
    cumulative = np.cumsum(_counts(histogram))
    out = []
    for percentile in percentiles:
        target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
        index = min(int(np.searchsorted(cumulative, target, side="left")), len(cumulative) - 1)
        out.append(float(highest[index] if percentile else lowest[index]))
    return out


def mean_us(histogram: HdrHistogram) -> float:
    total = histogram.get_total_count()
    if not total:
        return 0.0
    return float(np.dot(_counts(histogram).astype(np.float64), _bucket_values()[2]) / total)


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    """The value at `percentile` in milliseconds, or None for an empty histogram."""
    if histogram.get_total_count() == 0:
        return None
    return percentiles_us(histogram, (percentile,))[0] / 1000.0


def summary_ms(histogram: HdrHistogram) -> dict[str, float | int | None]:
    """count, mean, min, p50, p90, p95, p99, p99.9 and max, in milliseconds."""
    count = histogram.get_total_count()
    if count == 0:
        return {
            "count": 0, "mean": None, "min": None, "p50": None, "p90": None,
            "p95": None, "p99": None, "p999": None, "max": None,
        }
    p50, p90, p95, p99, p999 = percentiles_us(histogram, (50, 90, 95, 99, 99.9))
    return {
        "count": count,
        "mean": mean_us(histogram) / 1000.0,
        "min": histogram.get_min_value() / 1000.0,
        "p50": p50 / 1000.0,
        "p90": p90 / 1000.0,
        "p95": p95 / 1000.0,
        "p99": p99 / 1000.0,
        "p999": p999 / 1000.0,
        "max": histogram.get_max_value() / 1000.0,
    }

"""HDR histograms: the one way loadwatch keeps latency distributions.

Values are integer microseconds from 1 µs to 5 minutes at 3 significant digits, as the design
asks. Histograms travel between processes and into recordings as the standard HdrHistogram
compressed encoding (base64 text), so any HdrHistogram library can read them.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def merge(parts: Iterable[HdrHistogram | str], into: HdrHistogram | None = None) -> HdrHistogram:
    """Add histograms (objects or encoded text) into one; `into` is changed in place if given."""
    total = into if into is not None else new_histogram()
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            part = decode(part)
        if part.get_total_count():
            total.add(part)
    return total


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    """The value at `percentile` in milliseconds, or None for an empty histogram."""
    if histogram.get_total_count() == 0:
        return None
    return histogram.get_value_at_percentile(percentile) / 1000.0


def summary_ms(histogram: HdrHistogram) -> dict[str, float | int | None]:
    """count, mean, min, p50, p90, p95, p99, p99.9 and max, in milliseconds."""
    count = histogram.get_total_count()
    if count == 0:
        return {
            "count": 0, "mean": None, "min": None, "p50": None, "p90": None,
            "p95": None, "p99": None, "p999": None, "max": None,
        }
    values = histogram.get_percentile_to_value_dict([50, 90, 95, 99, 99.9])
    return {
        "count": count,
        "mean": histogram.get_mean_value() / 1000.0,
        "min": histogram.get_min_value() / 1000.0,
        "p50": values[50] / 1000.0,
        "p90": values[90] / 1000.0,
        "p95": values[95] / 1000.0,
        "p99": values[99] / 1000.0,
        "p999": values[99.9] / 1000.0,
        "max": histogram.get_max_value() / 1000.0,
    }

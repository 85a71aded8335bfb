"""The sandbox's CloudWatch: datapoints per metric and period, with AWS's statistics.

A datapoint keeps SampleCount, Sum, Minimum, Maximum and the distribution of its samples as
``value -> count``. Latencies come from an HDR histogram (3 significant digits) so the
distribution holds bucket values and percentiles are HDR percentiles; the 0/1 error samples,
the 1/n InvocationsPerInstance samples and the one-per-instance utilization samples are exact.
Datapoints of the base period merge into any longer period, as CloudWatch aggregates.

Every datapoint carries the time it becomes visible (its period's end plus the publication
delay): queries and ListMetrics see only what AWS would already show at ``now``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, metric name, sorted dims

LATENCY_LOWEST_US = 1
LATENCY_HIGHEST_US = 300_000_000  # 5 minutes, above any container time limit
LATENCY_DIGITS = 3

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def series_key(namespace: str, name: str, dimensions: Iterable[tuple[str, str]]) -> SeriesKey:
    return namespace, name, tuple(sorted(dimensions))


@dataclass(slots=True)
class Datapoint:
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    distribution: dict[float, int] = field(default_factory=dict)

    @classmethod
    def of_values(cls, values: dict[float, int]) -> Datapoint:
        """A datapoint of exact samples, given as ``value -> how many times``."""
        point = cls()
        for value, count in values.items():
            if count:
                point.distribution[value] = point.distribution.get(value, 0) + count
                point.count += count
                point.total += value * count
                point.minimum = min(point.minimum, value)
                point.maximum = max(point.maximum, value)
        return point

    def merge(self, other: Datapoint) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        for value, count in other.distribution.items():
            self.distribution[value] = self.distribution.get(value, 0) + count

    def statistic(self, stat: str) -> float | None:
        """Sum, Average, Minimum, Maximum, SampleCount or pNN[.N]; None without samples."""
        if self.count == 0:
            return None
        if stat == "Sum":
            return self.total
        if stat == "Average":
            return self.total / self.count
        if stat == "Minimum":
            return self.minimum
        if stat == "Maximum":
            return self.maximum
        if stat == "SampleCount":
            return float(self.count)
        return self._percentile(parse_percentile(stat))

    def _percentile(self, percentile: float) -> float:
        # The rank rule of HdrHistogram.get_value_at_percentile, so a latency percentile here is
        # the value the HDR histogram itself would give; clamped to the exact extremes.
        rank = max(int(percentile * self.count / 100 + 0.5), 1)
        seen = 0
        for value in sorted(self.distribution):
            seen += self.distribution[value]
            if seen >= rank:
                return min(max(value, self.minimum), self.maximum)
        return self.maximum


def parse_percentile(stat: str) -> float:
    match = _PERCENTILE.match(stat)
    if not match or float(match.group(1)) > 100:
        raise ValueError(f"unsupported statistic {stat!r}")
    return float(match.group(1))


def check_statistic(stat: str) -> None:
    """Raise ValueError unless the sandbox can compute ``stat``."""
    if stat not in BASIC_STATISTICS:
        parse_percentile(stat)


class LatencyRecorder:
    """Per-period latency samples in microseconds: an HDR histogram plus exact sum/min/max.

    ``record`` is on the request hot path (about 1 µs); ``take`` turns the period into a
    Datapoint by reading only the histogram's non-empty buckets, then resets it for reuse.
    """

    __slots__ = ("_histogram", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self._histogram = HdrHistogram(LATENCY_LOWEST_US, LATENCY_HIGHEST_US, LATENCY_DIGITS)
        self.count = 0
        self.total = 0
        self.minimum = LATENCY_HIGHEST_US
        self.maximum = 0

    def record(self, microseconds: int, count: int = 1) -> None:
        value = min(max(microseconds, LATENCY_LOWEST_US), LATENCY_HIGHEST_US)
        self._histogram.record_value(value, count)
        self.count += count
        self.total += value * count
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value

    def take(self) -> Datapoint | None:
        if self.count == 0:
            return None
        import numpy as np  # numpy comes with scikit-learn; reading buckets in Python is 40 ms

        histogram = self._histogram
        counts = np.ctypeslib.as_array(histogram.counts)
        distribution: dict[float, int] = {}
        for index in np.flatnonzero(counts):
            value = histogram.get_highest_equivalent_value(
                histogram.get_value_from_index(int(index)))
            distribution[float(value)] = distribution.get(float(value), 0) + int(counts[index])
        point = Datapoint(self.count, float(self.total), float(self.minimum),
                          float(self.maximum), distribution)
        # hdrh's reset() zeroes 20,480 counts one by one in Python (about 5 ms): zero the
        # array at once and reset what reset() would.
        counts[:] = 0
        histogram.total_count, histogram.min_value, histogram.max_value = 0, sys.maxsize, 0
        self.count = 0
        self.total = 0
        self.minimum = LATENCY_HIGHEST_US
        self.maximum = 0
        return point


class Cadence:
    """When a publisher's periods close: each high-resolution period (``fine_s``) and each
    standard period (``period_s``), once each, counted from the periods ``start`` (wall
    seconds) falls in. The endpoint's variant and its inference components publish alike."""

    __slots__ = ("_fine", "_period", "fine_s", "period_s")

    def __init__(self, period_s: int, fine_s: int, start: float) -> None:
        self.period_s, self.fine_s = period_s, fine_s
        self._period = int(start // period_s)
        self._fine = int(start // fine_s)

    def fine_ended(self, now: float) -> int | None:
        """The start of the high-resolution period ``now`` has closed, once; else None."""
        fine = int(now // self.fine_s)
        if fine <= self._fine:
            return None
        self._fine = fine
        return (fine - 1) * self.fine_s

    def period_ended(self, now: float) -> int | None:
        """The start of the standard period ``now`` has closed, once; else None."""
        index = int(now // self.period_s)
        if index <= self._period:
            return None
        self._period = index
        return (index - 1) * self.period_s


@dataclass(slots=True)
class _Stored:
    visible_at: float
    point: Datapoint


class MetricStore:
    """Datapoints per series and base period (``base_period`` seconds, epoch-aligned)."""

    def __init__(self, base_period: int) -> None:
        if base_period < 1 or int(base_period) != base_period:
            raise ValueError("the base period must be a whole number of seconds")
        self.base_period = int(base_period)
        self._series: dict[SeriesKey, dict[int, _Stored]] = {}

    def put(self, key: SeriesKey, period_start: int, point: Datapoint, visible_at: float) -> None:
        """Add a datapoint; one already stored for the same series and period is merged into."""
        periods = self._series.setdefault(key, {})
        stored = periods.get(period_start)
        if stored is None:
            periods[period_start] = _Stored(visible_at, point)
        else:
            stored.point.merge(point)
            stored.visible_at = max(stored.visible_at, visible_at)

    def effective_period(self, period: int) -> int:
        """The period actually used: a multiple of the base period, at least the base."""
        return max(1, math.ceil(period / self.base_period)) * self.base_period

    def keys(self, now: float, since: float | None = None) -> Iterator[SeriesKey]:
        """Series with a datapoint visible at ``now`` (and published after ``since``, if given)."""
        low = -math.inf if since is None else since
        for key, periods in self._series.items():
            if any(low <= stored.visible_at <= now for stored in periods.values()):
                yield key

    def query(self, key: SeriesKey, start: float, end: float, period: int, stat: str,
              now: float) -> list[tuple[int, float]]:
        """(period start, value) ascending for periods starting in [start rounded down, end).

        Only datapoints visible at ``now`` count, so the newest period may be partial, as on AWS.
        """
        period = self.effective_period(period)
        first = math.floor(start / period) * period
        buckets: dict[int, Datapoint] = {}
        for period_start, stored in self._series.get(key, {}).items():
            if stored.visible_at > now:
                continue
            bucket = period_start - period_start % period
            if bucket < first or bucket >= end:
                continue
            merged = buckets.get(bucket)
            if merged is None:
                merged = buckets[bucket] = Datapoint()
            merged.merge(stored.point)
        result = []
        for bucket in sorted(buckets):
            value = buckets[bucket].statistic(stat)
            if value is not None:
                result.append((bucket, value))
        return result

    def latest_values(self, key: SeriesKey, last_period_start: int, count: int, stat: str,
                      now: float, period: int | None = None) -> Sequence[float | None]:
        """The statistic of the ``count`` periods ending with ``last_period_start``.

        ``period`` is the series' own (a standard series published every minute into a store
        whose base is the high-resolution 10 s); the base period when None. Oldest first; None
        where no datapoint is visible (an alarm's missing data).
        """
        step = period or self.base_period
        periods = self._series.get(key, {})
        values: list[float | None] = []
        for i in range(count - 1, -1, -1):
            stored = periods.get(last_period_start - i * step)
            if stored is None or stored.visible_at > now:
                values.append(None)
            else:
                values.append(stored.point.statistic(stat))
        return values

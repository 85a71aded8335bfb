"""A session's state over time, filled from records: what charts, reports and comparisons read.

Live sessions and replays feed the same ``Timeline`` with the same records, so every view
renders both the same way. Client series are per second; server series are per CloudWatch
period and arrive late, so both are keyed by elapsed seconds since the session's start (server
datapoints by the start of their period) and line up on one time axis.

Memory is bounded: past ``max_points`` seconds the client series halve their resolution
(pairs merge: counts add, rates and latencies average, p99 keeps the larger) — exact figures
for any window still come from the histograms in the summary, not from these series.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from metrics import hdr
from metrics.client_load import ClientLoad, from_header_load
from metrics.cost import CostMeter
from metrics.engine import ENGINE
from metrics.llm import LLM_SERIES, LLM_TAKE_MAX, llm_point
from metrics.records import (
    CONN_ERROR,
    HTTP_4XX,
    HTTP_5XX,
    OK,
    OTHER,
    THROTTLED,
    TIMEOUT,
    Datapoint,
    EndpointState,
    Event,
    Footer,
    Header,
    Record,
    ScalingActivity,
    Tick,
)
from metrics.stats import Aggregate, SummaryBuilder

# Client series, one value per point. Counts are per point; rates per second.
CLIENT_SERIES = (
    "target_rps", "sent_rps", "completed_rps", "ok", "4xx", "5xx", "throttled", "timeout",
    "conn_error", "other", "not_sent", "late", "in_flight", "p50_ms", "p95_ms", "p99_ms",
    "service_p50_ms", "service_p99_ms", "lag_p99_ms", "failed_p99_ms", *LLM_SERIES,
)
_COUNTS = {"ok", "4xx", "5xx", "throttled", "timeout", "conn_error", "other", "not_sent", "late"}
_TAKE_MAX = {"p99_ms", "service_p99_ms", "lag_p99_ms", "failed_p99_ms", "in_flight",
             *LLM_TAKE_MAX}


@dataclass
class Series:
    """Points (x = elapsed seconds of the point's start, width seconds) and named values."""

    x: list[float] = field(default_factory=list)
    width: list[float] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(
        default_factory=lambda: {name: [] for name in CLIENT_SERIES})

    def __len__(self) -> int:
        return len(self.x)

    def append(self, x: float, width: float, point: dict[str, float | None]) -> None:
        self.x.append(x)
        self.width.append(width)
        for name in CLIENT_SERIES:
            self.values[name].append(point.get(name))

    def halve(self) -> None:
        """Merge neighbouring points pairwise (the last point stays alone if odd)."""
        n = len(self.x)
        x, width = [], []
        values: dict[str, list[float | None]] = {name: [] for name in CLIENT_SERIES}
        for i in range(0, n, 2):
            j = min(i + 1, n - 1)
            x.append(self.x[i])
            w = self.width[i] + (self.width[j] if j != i else 0.0)
            width.append(w)
            for name in CLIENT_SERIES:
                a, b = self.values[name][i], self.values[name][j] if j != i else None
                values[name].append(_merge_value(name, a, b, self.width[i],
                                                 self.width[j] if j != i else 0.0))
        self.x, self.width, self.values = x, width, values


def _merge_value(name: str, a: float | None, b: float | None, wa: float, wb: float) -> float | None:
    if b is None:
        return a
    if a is None:
        return b
    if name in _COUNTS:
        return a + b
    if name in _TAKE_MAX:
        return max(a, b)
    return (a * wa + b * wb) / (wa + wb)


def tick_point(tick: Tick) -> dict[str, float | None]:
    """The chartable figures of one tick (percentiles read from its histograms).

    ``p50_ms`` .. ``p99_ms`` and ``service_*`` are of successful requests (format 2 on),
    ``failed_p99_ms`` of the failed ones.
    """
    outcomes = tick.outcomes
    point: dict[str, float | None] = {
        "target_rps": tick.target_rps,
        "sent_rps": float(tick.sent),
        "completed_rps": float(tick.completed),
        "ok": float(outcomes.get(OK, 0)),
        "4xx": float(outcomes.get(HTTP_4XX, 0)),
        "5xx": float(outcomes.get(HTTP_5XX, 0)),
        "throttled": float(outcomes.get(THROTTLED, 0)),
        "timeout": float(outcomes.get(TIMEOUT, 0)),
        "conn_error": float(outcomes.get(CONN_ERROR, 0)),
        "other": float(outcomes.get(OTHER, 0)),
        "not_sent": float(tick.not_sent),
        "late": float(tick.late),
        "in_flight": float(tick.in_flight),
    }
    latency = hdr.decode(tick.latency)
    if latency.get_total_count():
        p50, p95, p99 = hdr.percentiles_us(latency, (50, 95, 99))
        point["p50_ms"], point["p95_ms"], point["p99_ms"] = p50 / 1000, p95 / 1000, p99 / 1000
    service = hdr.decode(tick.service)
    if service.get_total_count():
        p50, p99 = hdr.percentiles_us(service, (50, 99))
        point["service_p50_ms"], point["service_p99_ms"] = p50 / 1000, p99 / 1000
    lag = hdr.decode(tick.lag)
    point["lag_p99_ms"] = hdr.percentile_ms(lag, 99)
    for histogram in (latency, service, lag):
        hdr.release(histogram)
    if tick.failed_latency:  # most seconds have none: skip decoding an empty histogram
        failed = hdr.decode(tick.failed_latency)
        point["failed_p99_ms"] = hdr.percentile_ms(failed, 99)
        hdr.release(failed)
    point.update(llm_point(tick))  # streaming LLM targets only (issue 14)
    return point


@dataclass
class InstancePoint:
    elapsed: float
    status: str
    current: int | None
    desired: int | None


def _add_point(points: list[InstancePoint], elapsed: float, status: str,
               current: int | None, desired: int | None) -> None:
    """Append a step when the counts or the status changed."""
    last = points[-1] if points else None
    if last is None or (last.current, last.desired, last.status) != (current, desired, status):
        points.append(InstancePoint(elapsed, status, current, desired))


class Timeline:
    """Everything a view needs about one session, updated one record at a time."""

    def __init__(self, max_points: int = 4 * 3600, max_events: int = 2000,
                 recent_seconds: int = 5) -> None:
        self.max_points = max_points
        self.header: Header | None = None
        self.footer: Footer | None = None
        self.client = Series()
        self.server: dict[tuple[str, str], dict[float, float]] = {}
        self.server_units: dict[tuple[str, str], str] = {}
        self.period: int | None = None  # the standard series' period (the longest seen)
        self.periods: dict[tuple[str, str], int] = {}  # per series: high resolution is finer
        self.instances: list[InstancePoint] = []
        self.copies: list[InstancePoint] = []  # an inference component's copies, if any
        self.activities: dict[str, ScalingActivity] = {}
        self.events: deque[Event] = deque(maxlen=max_events)
        self.summary = SummaryBuilder()
        self.last_tick: Tick | None = None
        self.last_point: dict[str, float | None] = {}
        self.elapsed = 0.0  # the latest elapsed time any record spoke of
        self.endpoint_status: str | None = None
        # Records added so far, by type: a view redraws only when the types it shows changed.
        self.counts: Counter[str] = Counter()
        # The last few seconds of ticks whole, for exact "now" figures from their histograms.
        self.recent: deque[Tick] = deque(maxlen=recent_seconds)
        # What the run cost so far, and whether the load generator keeps up (issue 23).
        self.cost = CostMeter()
        self.client_load = ClientLoad()
        # The serving engine's own series (metrics.engine), apart from CloudWatch's; and what
        # its scraper said: scraping at all, the engine, the failure now (None: scrapes work).
        self.engine: dict[tuple[str, str], dict[float, float]] = {}
        self.engine_units: dict[tuple[str, str], str] = {}
        self.engine_periods: dict[tuple[str, str], int] = {}
        self.engine_scraped = False
        self.engine_name: str | None = None
        self.engine_failure: str | None = None

    @property
    def epoch0(self) -> float:
        return self.header.t if self.header else 0.0

    def add(self, record: Record) -> None:
        self.counts[record.TYPE] += 1
        self.cost(record)
        if isinstance(record, Tick):
            self.client_load.add(record)
            self.recent.append(record)
            point = tick_point(record)
            self.client.append(float(record.second), 1.0, point)
            if len(self.client) > self.max_points:
                self.client.halve()
            self.summary.add(record)
            self.last_tick = record
            self.last_point = point
            self.elapsed = max(self.elapsed, record.second + 1.0)
        elif isinstance(record, Datapoint) and record.namespace == ENGINE:
            key = (record.metric, record.stat)
            self.engine.setdefault(key, {})[record.t - self.epoch0] = record.value
            self.engine_units[key] = record.unit
            self.engine_periods[key] = record.period
        elif isinstance(record, Datapoint):
            key = (record.metric, record.stat)
            self.server.setdefault(key, {})[record.t - self.epoch0] = record.value
            self.server_units[key] = record.unit
            self.periods[key] = record.period
            self.period = max(self.period or 0, record.period)
        elif isinstance(record, EndpointState):
            _add_point(self.instances, record.elapsed, record.status,
                       *record.instance_counts())
            if record.components:
                _add_point(self.copies, record.elapsed, record.status, *record.copy_counts())
            self.endpoint_status = record.status
            self.elapsed = max(self.elapsed, record.elapsed)
        elif isinstance(record, ScalingActivity):
            self.activities[record.activity_id] = record
        elif isinstance(record, Event):
            self.events.append(record)
            self.elapsed = max(self.elapsed, record.elapsed)
            if record.source == "engine":
                self._engine_event(record)
        elif isinstance(record, Header):
            self.header = record
            self.client_load = from_header_load(record.meta.get("load"))
        elif isinstance(record, Footer):
            self.footer = record
            self.elapsed = max(self.elapsed, record.elapsed)

    def _engine_event(self, event: Event) -> None:
        self.engine_scraped = True
        if event.name == "engine_found":
            self.engine_name = event.data.get("engine")
        elif event.name == "engine_scrape_failed":
            self.engine_failure = str(event.data.get("error") or event.message)
        elif event.name == "engine_scrape_recovered":
            self.engine_failure = None

    def engine_series(self, metric: str, stat: str) -> tuple[list[float], list[float]]:
        """One engine series: (elapsed seconds of each value, values), sorted by time."""
        points = self.engine.get((metric, stat), {})
        xs = sorted(points)
        return xs, [points[x] for x in xs]

    def latest_engine(self, metric: str, stat: str) -> float | None:
        points = self.engine.get((metric, stat))
        return points[max(points)] if points else None

    def server_series(self, metric: str, stat: str) -> tuple[list[float], list[float]]:
        """(period starts in elapsed seconds, values), sorted by time."""
        points = self.server.get((metric, stat), {})
        xs = sorted(points)
        return xs, [points[x] for x in xs]

    def period_of(self, metric: str, stat: str) -> int | None:
        """The period of one server series (a high-resolution one is finer than ``period``)."""
        return self.periods.get((metric, stat), self.period)

    def latest_server(self, metric: str, stat: str) -> float | None:
        points = self.server.get((metric, stat))
        if not points:
            return None
        return points[max(points)]

    def activity_marks(self) -> list[tuple[float, ScalingActivity]]:
        """Scaling activities at their start, in elapsed seconds."""
        return sorted(((a.t - self.epoch0, a) for a in self.activities.values()),
                      key=lambda pair: pair[0])

    def window(self, seconds: float | None) -> tuple[int, int]:
        """Index range [start, end) of client points within the last ``seconds`` (None: all)."""
        end = len(self.client)
        if seconds is None or not end:
            return 0, end
        start_x = self.client.x[-1] + self.client.width[-1] - seconds
        start = end
        while start > 0 and self.client.x[start - 1] >= start_x:
            start -= 1
        return start, end

    def totals(self) -> dict[str, Any]:
        return self.summary.total.snapshot()

    def phase_aggregate(self, index: int) -> Aggregate | None:
        entry = self.summary.phases.get(index)
        return entry[1] if entry else None


# Bucket widths in seconds for downsampling: edges stay put while the visible span grows.
BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def nice_bucket(span: float, points: int) -> int:
    """The smallest bucket width (s) that keeps ``span`` seconds within ``points`` points."""
    need = span / max(points, 1)
    return next((b for b in BUCKETS if b >= need), BUCKETS[-1])


def downsample(xs: Sequence[float], ys: Sequence[float | None], bucket: float,
               how: str = "mean", x0: float = -math.inf,
               x1: float = math.inf) -> tuple[list[float], list[float]]:
    """Points in [x0, x1) merged into buckets of ``bucket`` seconds, ``mean`` or ``max``.

    The one downsampler of every chart (monitor, report, terminal). Buckets are aligned to
    multiples of their width, so old points do not shimmer as new ones arrive; a bucket's x is
    its start. None values (no data) are skipped; a bucket with no data is left out.
    """
    out_x: list[float] = []
    out_y: list[float] = []
    key: int | None = None
    acc: list[float] = []

    def close() -> None:
        if acc and key is not None:
            out_x.append(key * bucket)
            out_y.append(max(acc) if how == "max" else sum(acc) / len(acc))

    for x, y in zip(xs, ys, strict=True):
        if x < x0 or x >= x1 or y is None:
            continue
        k = math.floor(x / bucket)
        if k != key:
            close()
            key, acc = k, []
        acc.append(float(y))
    close()
    return out_x, out_y


def clock(seconds: float) -> str:
    """Elapsed seconds as m:ss, or h:mm:ss past an hour, rounded to the nearest second.

    The one time formatter of every view, so the monitor, the headless log and the report
    agree: 59.6 s is 1:00 everywhere.
    """
    sign = "-" if seconds < 0 else ""
    whole = math.floor(abs(seconds) + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"

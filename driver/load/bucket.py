"""One elapsed second of a worker's requests, and the tick it becomes (``driver.load.worker``).

The worker's hot path increments a ``Bucket``'s plain attributes and appends each request's
microseconds to plain lists; once a second the worker closes it into a
``metrics.records.Tick`` (``Bucket.tick``), which folds the lists into HDR histograms in bulk
(``metrics.hdr.encode_values``: hdrh records one value in about 2 µs of pure Python, three
values a request), and starts the next.
"""

from __future__ import annotations

from metrics import hdr
from metrics.records import Tick


class Bucket:
    """What happened in one elapsed second. Plain attributes: the hot path increments them."""

    __slots__ = (
        "completed",
        "errors",
        "failed_latency",
        "interrupted",
        "lag",
        "late",
        "latency",
        "not_sent",
        "out_of_range",
        "outcomes",
        "retried",
        "second",
        "sent",
        "service",
        "status",
    )

    def __init__(self, second: int) -> None:
        self.second = second
        self.sent = 0
        self.completed = 0
        self.late = 0
        self.not_sent = 0
        self.out_of_range = 0
        self.retried = 0
        self.interrupted = 0  # sent, then cut by the operator's stop: neither ended nor an error
        self.outcomes: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        # Integer microseconds, recorded into histograms at the tick.
        self.latency: list[int] = []  # successful requests, from the intended send
        self.service: list[int] = []  # successful requests, from the actual send
        self.failed_latency: list[int] = []
        self.lag: list[int] = []  # actual send minus intended send

    @property
    def empty(self) -> bool:
        return (self.sent == 0 and self.completed == 0 and self.not_sent == 0
                and self.interrupted == 0)

    def tick(self, epoch0: float, phase_index: int, target_rps: float, in_flight: float,
             in_schedule: bool) -> Tick:
        """The second as a tick, its values recorded into encoded histograms.

        Latencies outside the histograms' range (negative, or over 5 minutes) are counted in
        ``out_of_range``, as when they were recorded one by one.
        """
        start = float(self.second)
        latency, latency_rejected = hdr.encode_values(self.latency)
        failed_latency, failed_rejected = hdr.encode_values(self.failed_latency)
        return Tick(
            second=self.second,
            t=epoch0 + start,
            elapsed=start,
            phase=None,
            phase_index=phase_index,
            target_rps=target_rps,
            sent=self.sent,
            completed=self.completed,
            outcomes=self.outcomes,
            status=self.status,
            errors=self.errors,
            late=self.late,
            not_sent=self.not_sent,
            in_flight=in_flight,
            out_of_range=self.out_of_range + latency_rejected + failed_rejected,
            retried=self.retried,
            in_schedule=in_schedule,
            latency=latency,
            service=hdr.encode_values(self.service)[0],
            failed_latency=failed_latency,
            lag=hdr.encode_values(self.lag)[0],
            interrupted=self.interrupted,
        )

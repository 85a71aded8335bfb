"""One elapsed second of a worker's requests, and the tick it becomes (``driver.worker``).

The worker's hot path increments a ``Bucket``'s plain attributes; once a second the worker
closes it into a ``metrics.records.Tick`` (``Bucket.tick``) and starts the next.
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
        self.outcomes: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.latency = hdr.new_histogram()
        self.service = hdr.new_histogram()
        self.failed_latency = hdr.new_histogram()
        self.lag = hdr.new_histogram()

    @property
    def empty(self) -> bool:
        return self.sent == 0 and self.completed == 0 and self.not_sent == 0

    def tick(self, epoch0: float, phase_index: int, target_rps: float, in_flight: int,
             in_schedule: bool) -> Tick:
        """The second as a tick (its histograms encoded; ``release`` them afterwards)."""
        start = float(self.second)
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
            out_of_range=self.out_of_range,
            retried=self.retried,
            in_schedule=in_schedule,
            latency=hdr.encode(self.latency),
            service=hdr.encode(self.service),
            failed_latency=hdr.encode(self.failed_latency),
            lag=hdr.encode(self.lag),
        )

    def release(self) -> None:
        """Give the histograms back (requests record only into the current bucket)."""
        for histogram in (self.latency, self.service, self.failed_latency, self.lag):
            hdr.release(histogram)

"""Concurrency mode (``load.mode: concurrency``): N requests always in flight, a closed loop.

LLMPerf's and GuideLLM's load model. The phases' ``arrivalRate``/``rampTo`` are read as the
number of requests to keep in flight across all workers (the same ``RateFunction``, so ramps,
pauses and the monitor's live controls work unchanged: a rate a control sets is a
concurrency here). Each worker keeps its share in flight: a request starts as soon as one
ends, or as soon as the target rises. A request's intended send is when it was started, so
latency and service time are the same up to the connection wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from driver.load.accounting import InFlight
from driver.load.request_path import RequestPath
from driver.load.scenarios import RequestPicker
from driver.schedule import Pacer

# How often the target is looked at when no request ends (a ramp, a live change, the end).
CHECK_S = 0.05


def share(total: float, index: int, workers: int) -> int:
    """Worker ``index``'s part of ``total`` requests in flight (rounded); parts add up."""
    base, extra = divmod(round(total), workers)
    return base + (1 if index < extra else 0)


class ClosedLoop:
    """Keeps worker ``index`` of ``workers``' share of the concurrency target in flight
    (``run``) until the schedule ends or a ``stop``; never more than ``max_in_flight``.

    Requests start through the request path's ``start``, so plain targets (the lean client)
    and streaming ones (``driver.load.stream_request``) are kept in flight alike; the path
    says when one ends (``watch_ends``)."""

    def __init__(self, pacer: Pacer, duration: float, index: int, workers: int,
                 max_in_flight: int, picker: RequestPicker, path: RequestPath,
                 in_flight: dict[int, InFlight]) -> None:
        self.pacer = pacer  # its rate, live controls included, is the concurrency target
        self.duration = duration  # the schedule's, in elapsed seconds
        self.index = index
        self.workers = workers
        self.max_in_flight = max_in_flight
        self.picker = picker
        self.path = path
        self.in_flight = in_flight
        self.stopping = False

    def stop(self) -> None:
        """Start nothing more (noticed when a request ends, or within ``CHECK_S``)."""
        self.stopping = True

    async def run(self, t0: float) -> None:
        """From ``t0`` (perf_counter of elapsed 0) to the schedule's end or a stop."""
        perf = time.perf_counter
        duration = self.duration
        in_flight = self.in_flight
        next_request = self.picker.next
        start = self.path.start
        ended = asyncio.Event()
        self.path.watch_ends(ended.set)
        while not self.stopping:
            now = perf() - t0
            if now >= duration:
                return
            target = min(share(self.pacer.rate.rate_at(now), self.index, self.workers),
                         self.max_in_flight)
            # At most the shortfall per pass: a request that fails at once (a bad URL) must
            # not keep this loop from yielding.
            for _ in range(target - len(in_flight)):
                seq, request_id, spec = next_request()
                start(seq, request_id, spec, perf())
            ended.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(CHECK_S, max(duration - now, 0.001))):
                    await ended.wait()

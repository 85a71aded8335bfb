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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driver.load.worker import Worker

# How often the target is looked at when no request ends (a ramp, a live change, the end).
CHECK_S = 0.05


def share(total: float, index: int, workers: int) -> int:
    """Worker ``index``'s part of ``total`` requests in flight (rounded); parts add up."""
    base, extra = divmod(round(total), workers)
    return base + (1 if index < extra else 0)


async def send_closed_loop(worker: Worker) -> None:
    """Keep this worker's share of the concurrency target in flight until the schedule ends.

    Requests start through the worker's ``start_request`` hook, so plain targets (the lean
    client) and streaming ones (``driver.load.stream_request``) are kept in flight alike."""
    perf = time.perf_counter
    config = worker.config
    t0 = worker.t0
    duration = worker.base_rate.duration
    in_flight = worker.in_flight
    start = worker.start_request
    ended = asyncio.Event()
    worker.watch_ends(ended.set)
    while not worker.stopping:
        now = perf() - t0
        if now >= duration:
            return
        target = min(share(worker.pacer.rate.rate_at(now), config.index, config.workers),
                     config.max_in_flight)
        # At most the shortfall per pass: a request that fails at once (a bad URL) must not
        # keep this loop from yielding.
        for _ in range(target - len(in_flight)):
            request_id, spec = worker._pick(worker._sent_count)
            worker._sent_count += 1
            start(worker._sent_count, request_id, spec, perf())
        ended.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(CHECK_S, max(duration - now, 0.001))):
                await ended.wait()

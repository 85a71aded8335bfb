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

import aiohttp

if TYPE_CHECKING:
    from driver.worker import Worker

# How often the target is looked at when no request ends (a ramp, a live change, the end).
CHECK_S = 0.05


def share(total: float, index: int, workers: int) -> int:
    """Worker ``index``'s part of ``total`` requests in flight (rounded); parts add up."""
    base, extra = divmod(round(total), workers)
    return base + (1 if index < extra else 0)


async def send_closed_loop(worker: Worker, session: aiohttp.ClientSession) -> None:
    """Keep this worker's share of the concurrency target in flight until the schedule ends."""
    perf = time.perf_counter
    loop = asyncio.get_running_loop()
    config = worker.config
    t0 = worker.t0
    duration = worker.base_rate.duration
    in_flight = worker.in_flight
    request = worker._request
    ended = asyncio.Event()

    def wake(_task: asyncio.Task[None]) -> None:
        ended.set()

    n = 0
    while not worker.stopping:
        now = perf() - t0
        if now >= duration:
            return
        target = min(share(worker.pacer.rate.rate_at(now), config.index, config.workers),
                     config.max_in_flight)
        while len(in_flight) < target:
            request_id, spec = worker._pick(n)
            n += 1
            task = loop.create_task(request(session, n, request_id, spec, perf()))
            in_flight[n] = [task, None]
            task.add_done_callback(wake)
        ended.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(CHECK_S, max(duration - now, 0.001))):
                await ended.wait()

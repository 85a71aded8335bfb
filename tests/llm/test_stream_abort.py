"""Streams in the worker's in_flight: kill and the timeout sweep count each one once, at once.

In-process worker (the config a real session would hand its worker process), a real SSE server.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import closing

from driver.http import Client
from driver.load import Worker
from driver.load.stream_request import LlmRequests
from driver.pool import TickMessage
from driver.profile import load_profile
from driver.session import RunOptions, prepare_run
from tests.llm.conftest import write
from tests.llm.test_stream_worker import llm_profile


async def worker_for(path) -> tuple[Worker, list]:
    prepared = await prepare_run(load_profile(path), RunOptions())
    emitted: list = []
    return Worker(prepared.session._worker_config(0), emitted.append), emitted


async def test_kill_counts_every_stream_once_and_closes_the_session(sse_server, tmp_path):
    sse_server.first_delay = 5.0  # no stream ends before the kill
    path = write(tmp_path, llm_profile(sse_server.url, "    - {duration: 10, arrivalRate: 3}",
                                       load="  mode: concurrency"))
    worker, emitted = await worker_for(path)

    async def kill_when_all_are_in() -> None:
        while sse_server.open < 3:
            await asyncio.sleep(0.01)
        worker.kill()

    killer = asyncio.create_task(kill_when_all_are_in())
    with closing(Client()) as client:
        worker.start(time.perf_counter(), time.time())
        reason = await asyncio.wait_for(worker.run(client), timeout=30)
    await killer
    ticks = [m.tick for m in emitted if isinstance(m, TickMessage)]
    assert reason == "killed"
    assert sum(t.sent for t in ticks) == 3
    # The operator's stop is not the endpoint's failure: counted apart, not completed.
    assert sum(t.interrupted for t in ticks) == 3
    assert sum(t.completed for t in ticks) == 0
    assert not any(t.errors or t.outcomes or t.stream_errors for t in ticks)
    assert not worker.in_flight
    assert isinstance(worker.requests, LlmRequests) and worker.requests.session is None  # closed


async def test_a_stream_cut_by_the_kill_keeps_the_tokens_it_received(sse_server, tmp_path):
    sse_server.first_delay, sse_server.interval = 0.01, 0.05  # 20 tokens: 1 s each stream
    path = write(tmp_path, llm_profile(sse_server.url, "    - {duration: 10, arrivalRate: 2}",
                                       load="  mode: concurrency"))
    worker, emitted = await worker_for(path)

    async def kill_mid_stream() -> None:
        while len(sse_server.first_at) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # a few tokens each
        worker.kill()

    killer = asyncio.create_task(kill_mid_stream())
    with closing(Client()) as client:
        worker.start(time.perf_counter(), time.time())
        await asyncio.wait_for(worker.run(client), timeout=30)
    await killer
    ticks = [m.tick for m in emitted if isinstance(m, TickMessage)]
    interrupted = sum(t.interrupted for t in ticks)
    completed = sum(t.completed for t in ticks)
    assert interrupted >= 2 and interrupted + completed == sum(t.sent for t in ticks)
    assert sum(t.errors.get("Cancelled", 0) for t in ticks) == 0
    assert sum(t.output_tokens for t in ticks) >= 2 * 3 + 20 * completed
    assert sum(t.goodput for t in ticks) <= completed


async def test_the_timeout_sweep_ends_a_stream_as_a_timeout(sse_server, tmp_path):
    sse_server.first_delay, sse_server.interval = 0.02, 0.2  # 20 tokens: 4 s
    path = write(tmp_path, llm_profile(sse_server.url, "    - {duration: 1, arrivalRate: 1}",
                                       load="  timeout: 1s\n  mode: concurrency"))
    worker, emitted = await worker_for(path)
    with closing(Client()) as client:
        worker.start(time.perf_counter(), time.time())
        reason = await asyncio.wait_for(worker.run(client), timeout=30)
    ticks = [m.tick for m in emitted if isinstance(m, TickMessage)]
    assert reason == "completed"
    assert sum(t.completed for t in ticks) == sum(t.sent for t in ticks) >= 1
    assert sum(t.outcomes.get("timeout", 0) for t in ticks) == sum(t.completed for t in ticks)
    assert sum(t.stream_errors.get("timeout", 0) for t in ticks) == sum(t.completed for t in ticks)
    assert sum(t.output_tokens for t in ticks) > 0  # the tokens received are kept
    assert not worker.in_flight

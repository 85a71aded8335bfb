"""Concurrency mode on a plain target: the lean client's requests kept N in flight (issue 14).

Streaming targets are covered in tests/llm/test_stream_worker.py; both start requests through
the worker's one request path (``RequestPath.start``).
"""

from __future__ import annotations

import asyncio

from driver.schedule import Phase
from tests.driver.load.test_send import make_worker, run_worker, ticks


async def test_a_plain_target_keeps_n_requests_in_flight(target_server):
    target_server.delay = 0.05
    emitted: list = []
    worker = make_worker(target_server.url, [Phase("n", 1.0, 5, 5)], emitted,
                         mode="concurrency")
    reason = await asyncio.wait_for(run_worker(worker), timeout=30)
    assert reason == "completed"
    assert target_server.max_in_flight == 5
    got = ticks(emitted)
    sent = sum(t.sent for t in got)
    # 5 in flight for 1 s at 50 ms each: about 100 requests (fewer on a slow machine).
    assert 40 <= sent <= 105
    assert sent == sum(t.completed for t in got) == sum(t.outcomes.get("ok", 0) for t in got)
    assert sent == target_server.requests
    # The mean in flight over each second (issue 25): at most the target, and by Little's law
    # the second's completions times their mean latency (see tests/llm/test_in_flight.py).
    assert all(t.in_flight <= 5 for t in got) and got[-1].in_flight < 5
    assert got[0].in_flight > 4


async def test_kill_in_concurrency_mode_counts_every_request(target_server):
    target_server.delay = 2.0  # nothing answers before the kill
    emitted: list = []
    worker = make_worker(target_server.url, [Phase("n", 10.0, 4, 4)], emitted,
                         mode="concurrency")

    async def kill_when_all_are_in() -> None:
        while target_server.in_flight < 4:
            await asyncio.sleep(0.01)
        worker.kill()

    killer = asyncio.create_task(kill_when_all_are_in())
    reason = await asyncio.wait_for(run_worker(worker), timeout=30)
    await killer
    assert reason == "killed"
    got = ticks(emitted)
    assert sum(t.sent for t in got) == 4
    # The kill is the operator's: the four are interrupted, not Cancelled errors (issue 24).
    assert sum(t.interrupted for t in got) == 4
    assert sum(t.errors.get("Cancelled", 0) for t in got) == 0
    assert not worker.in_flight

"""The worker's send loop yields to its event loop whatever the rate (issue 12 item 11)."""

from __future__ import annotations

import asyncio
import time
from contextlib import closing

from driver.http import Client
from driver.load import WORKER_CEILING_RPS, Worker, rate_warnings
from driver.load.sender import COALESCE_S
from driver.pool import TickMessage, WorkerConfig
from driver.profile import LoadOptions, RenderedRequest
from driver.schedule import Phase
from metrics import hdr

ABSURD_RPS = 10_000_000


def make_worker(url: str, phases: list[Phase], emitted: list[dict], **options) -> Worker:
    config = WorkerConfig(index=0, workers=1, phases=tuple(phases),
                          scenarios=((RenderedRequest("GET", url + "/", {}, None),),),
                          weights=(1.0,), load=LoadOptions(**options))
    return Worker(config, emitted.append)


async def run_worker(worker: Worker) -> str:
    with closing(Client()) as client:
        worker.start(time.perf_counter(), time.time())
        return await worker.run(client)


def ticks(emitted: list[dict]):
    return [m.tick for m in emitted if isinstance(m, TickMessage)]


async def test_an_absurd_rate_still_lets_a_stop_through(target_server):
    emitted: list[dict] = []
    worker = make_worker(target_server.url, [Phase("absurd", 60, ABSURD_RPS, ABSURD_RPS)],
                         emitted, max_in_flight=64, connections=16)
    seen_running = asyncio.Event()

    async def stop_once_requests_complete() -> None:
        # Runs only if the send loop yields; then answers must have come back too.
        while target_server.requests < 50:
            await asyncio.sleep(0.01)
        seen_running.set()
        worker.stop()

    stopper = asyncio.create_task(stop_once_requests_complete())
    reason = await asyncio.wait_for(run_worker(worker), timeout=30)
    await stopper
    assert reason == "stopped"
    assert seen_running.is_set()
    assert sum(t.not_sent for t in ticks(emitted)) > 0  # the cap was reached and counted


async def test_an_absurd_rate_ends_with_its_schedule_and_accounts_for_every_request(
        target_server):
    emitted: list[dict] = []
    duration = 0.3
    worker = make_worker(target_server.url, [Phase("absurd", duration, ABSURD_RPS, ABSURD_RPS)],
                         emitted, max_in_flight=64, connections=16)
    reason = await asyncio.wait_for(run_worker(worker), timeout=30)
    assert reason == "completed"
    sent = sum(t.sent for t in ticks(emitted))
    not_sent = sum(t.not_sent for t in ticks(emitted))
    assert sent > 0
    # Every request the schedule asked for was either sent or counted as not sent.
    assert sent + not_sent == round(ABSURD_RPS * duration)


def test_validate_warns_beyond_the_workers_ceiling_only():
    phases = [Phase("fine", 10, 100, WORKER_CEILING_RPS), Phase("gap", 5, 0, 0, pause=True),
              Phase("absurd", 2, ABSURD_RPS, ABSURD_RPS)]
    warnings = rate_warnings(phases, workers=2)
    assert len(warnings) == 1
    assert "'absurd'" in warnings[0] and "10,000,000 req/s" in warnings[0]
    assert "load.workers: 1000" in warnings[0]
    assert rate_warnings([Phase("two", 10, 15_000, 15_000)], workers=2) == []


async def test_sends_batched_at_a_high_rate_are_never_early_and_all_counted(target_server):
    """Above 1 / COALESCE_S per worker one wake-up sends several requests: every one goes
    at or after its intended time (a negative lag would fall out of the lag histogram, so
    its count equals the sends), and every request is sent or counted as not sent."""
    emitted: list[dict] = []
    rate, duration = 12_000, 0.25
    worker = make_worker(target_server.url, [Phase("fast", duration, rate, rate)], emitted,
                         max_in_flight=10_000, connections=64)
    assert rate * COALESCE_S > 1  # the batched path
    reason = await asyncio.wait_for(run_worker(worker), timeout=30)
    assert reason == "completed"
    sent = sum(t.sent for t in ticks(emitted))
    assert sent + sum(t.not_sent for t in ticks(emitted)) == rate * duration
    lags = hdr.merge(t.lag for t in ticks(emitted))
    assert lags.get_total_count() == sent > 0
    assert lags.get_min_value() >= 0

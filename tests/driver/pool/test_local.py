"""The local worker pool: real worker processes against a real local aiohttp server."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil
import pytest

from driver.pool import (
    KILL_DEADLINE_S,
    Done,
    LocalProcessPool,
    PoolStartError,
    Start,
    TickMessage,
    WorkerConfig,
    WorkerLost,
)
from driver.profile import LoadOptions, RenderedRequest
from driver.schedule import Phase


def configs(url: str, workers: int, rate: float = 20.0) -> list[WorkerConfig]:
    return [WorkerConfig(index=i, workers=workers, phases=(Phase("steady", 30.0, rate, rate),),
                         scenarios=((RenderedRequest("GET", f"{url}/x", {}, None),),),
                         weights=(1.0,), load=LoadOptions(workers=workers, timeout=30.0))
            for i in range(workers)]


def worker_processes() -> list[psutil.Process]:
    """This test's live worker processes (not zombies waiting to be reaped)."""
    found = []
    for process in psutil.Process().children():
        try:
            if (process.status() != psutil.STATUS_ZOMBIE
                    and "driver.load.process" in " ".join(process.cmdline())):
                found.append(process)
        except psutil.Error:
            continue  # gone meanwhile
    return found


async def started(pool: LocalProcessPool, url: str, workers: int, **kw: float) -> None:
    await pool.start(configs(url, workers, **kw))
    pool.send(Start(time.perf_counter() + 0.05, time.time() + 0.05))


async def test_a_command_reaches_every_worker(target_server):
    pool = LocalProcessPool()
    try:
        await started(pool, target_server.url, 2)
        ticked: set[int] = set()
        done: dict[int, str] = {}
        async with asyncio.timeout(30):
            async for message in pool.messages():
                if isinstance(message, TickMessage) and ticked != {0, 1}:
                    ticked.add(message.worker)
                    if ticked == {0, 1}:
                        pool.stop()
                elif isinstance(message, Done):
                    done[message.worker] = message.reason
        assert done == {0: "stopped", 1: "stopped"}
        assert target_server.requests >= 20  # one second of the schedule, split between them
    finally:
        await pool.terminate()
    assert not worker_processes()


async def test_kill_stops_every_worker_within_the_deadline(target_server):
    target_server.delay = 3.0  # every request is still in flight when the kill comes
    pool = LocalProcessPool()
    try:
        await started(pool, target_server.url, 2, rate=50.0)
        busy: set[int] = set()
        killed_at = None
        seen: list = []
        async with asyncio.timeout(30):
            async for message in pool.messages():
                seen.append(message)
                if isinstance(message, TickMessage) and message.tick.in_flight:
                    busy.add(message.worker)
                    if busy == {0, 1} and killed_at is None:
                        killed_at = time.perf_counter()
                        pool.kill()
        stopped_after = time.perf_counter() - killed_at
    finally:
        await pool.terminate()
    assert {m.worker: m.reason for m in seen if isinstance(m, Done)} == {0: "killed",
                                                                        1: "killed"}
    assert not [m for m in seen if isinstance(m, WorkerLost)]  # they stopped by themselves
    assert stopped_after < KILL_DEADLINE_S
    assert not worker_processes()


async def test_a_worker_killed_by_a_signal_comes_back_as_worker_lost(target_server):
    pool = LocalProcessPool()
    try:
        await started(pool, target_server.url, 2)
        victims: list[int] = []
        lost: list[WorkerLost] = []
        after_loss: set[int] = set()
        done: dict[int, str] = {}
        async with asyncio.timeout(30):
            async for message in pool.messages():
                if isinstance(message, TickMessage) and not victims:
                    victims.append(worker_processes()[0].pid)
                    os.kill(victims[0], signal.SIGKILL)
                elif isinstance(message, WorkerLost):
                    lost.append(message)
                elif isinstance(message, TickMessage) and lost:
                    after_loss.add(message.worker)
                    pool.stop()
                elif isinstance(message, Done):
                    done[message.worker] = message.reason
    finally:
        await pool.terminate()
    assert len(lost) == 1
    assert lost[0].reason == f"exited with code {-signal.SIGKILL}"
    survivor = 1 - lost[0].worker
    assert after_loss == {survivor}  # the other worker went on sending
    assert done == {survivor: "stopped"}


async def test_a_worker_that_cannot_start_is_a_pool_start_error(target_server, monkeypatch):
    monkeypatch.setattr("driver.pool.local.sys.executable", "/bin/false")
    pool = LocalProcessPool()
    with pytest.raises(PoolStartError, match="worker 0 failed to start"):
        await pool.start(configs(target_server.url, 1))

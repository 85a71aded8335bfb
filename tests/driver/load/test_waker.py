"""The sender's precise timer (driver/load/waker.py): never early, re-arming replaces the instant,
and an expiry nobody re-armed after is cleared (the loop does not keep calling back)."""

from __future__ import annotations

import asyncio
import time

from driver.load.waker import Waker


async def test_waker_calls_back_at_the_instant_never_before_and_once() -> None:
    loop = asyncio.get_running_loop()
    calls: list[float] = []
    arrived: asyncio.Queue[None] = asyncio.Queue()

    def callback() -> None:
        calls.append(time.perf_counter())
        arrived.put_nowait(None)

    waker = Waker(loop, callback)
    try:
        start = time.perf_counter()
        waker.arm(start + 0.2)  # replaced by the next line: must not call back
        first = start + 0.005
        waker.arm(first)
        await asyncio.wait_for(arrived.get(), 5)
        assert calls[0] >= first
        # The callback did not re-arm: the expiry must be cleared, or the loop would call
        # back again and again. The next call is the next instant armed, past the first.
        second = time.perf_counter() + 0.3
        waker.arm(second)
        await asyncio.wait_for(arrived.get(), 5)
        assert len(calls) == 2
        assert calls[1] >= second
    finally:
        waker.close()


async def test_waker_rearmed_from_its_callback_keeps_the_pace() -> None:
    loop = asyncio.get_running_loop()
    instants = [time.perf_counter() + 0.002 * (i + 1) for i in range(20)]
    seen: list[float] = []
    finished = loop.create_future()

    def callback() -> None:
        seen.append(time.perf_counter())
        if len(seen) < len(instants):
            waker.arm(instants[len(seen)])
        else:
            finished.set_result(None)

    waker = Waker(loop, callback)
    try:
        waker.arm(instants[0])
        await asyncio.wait_for(finished, 5)
        assert all(s >= i for s, i in zip(seen, instants, strict=True))
    finally:
        waker.close()

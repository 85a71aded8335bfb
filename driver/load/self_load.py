"""The worker's own load, measured where it runs: CPU time per second and event-loop lag.

A load generator that cannot keep up makes the server look better than it is (requests go out
late or not at all). Each worker measures itself, so a Ray worker on another node does too:
its CPU time (``time.process_time``: this process, every thread) over each second as a fraction
of one core, and how late a timer set every ``PROBE_S`` wakes up (the loop's lag: a callback
that holds the loop delays every send behind it). ``fill`` puts both into the second's tick.
"""

from __future__ import annotations

import asyncio
import time

from metrics.records import Tick

# The lag probe's period: 10 wake-ups a second cost nothing measurable beside the sends.
PROBE_S = 0.1


class SelfLoad:
    def __init__(self, index: int) -> None:
        self.key = str(index)
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        self.lag_s = 0.0  # the worst wake-up lag since the last tick

    async def probe(self) -> None:
        """Sleep ``PROBE_S`` at a time and note how late each wake-up is (from the run's start:
        the worker's start-up is not load)."""
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        while True:
            due = time.perf_counter() + PROBE_S
            await asyncio.sleep(PROBE_S)
            self.lag_s = max(self.lag_s, time.perf_counter() - due)

    def fill(self, tick: Tick) -> None:
        """The CPU share and worst loop lag since the last tick, into ``tick``."""
        cpu, wall = time.process_time(), time.perf_counter()
        if wall > self._wall:
            tick.cpu = {self.key: round((cpu - self._cpu) / (wall - self._wall), 3)}
        tick.loop_lag_ms = round(self.lag_s * 1000.0, 2)
        self._cpu, self._wall, self.lag_s = cpu, wall, 0.0

"""One load worker process: its pacer-driven sender, the closed loop of concurrency mode,
the request paths (plain, streamed), how requests are counted into seconds and ticks, limits.
May import ``driver.schedule``, ``driver.profile``, ``driver.http``, ``driver.pool`` (the
protocol) and ``metrics``.
"""

from driver.load.limits import WORKER_CEILING_RPS, rate_warnings
from driver.load.scenarios import WorkerRequest
from driver.load.worker import Worker

__all__ = [
    "WORKER_CEILING_RPS",
    "Worker",
    "WorkerRequest",
    "rate_warnings",
]

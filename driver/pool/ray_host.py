"""The Ray actor that hosts one load worker on its node (``driver.pool.ray_pool`` places them).

It runs the worker exactly as on a single host — ``python -m driver.load.process`` as a child
process through a one-worker ``LocalProcessPool`` (same hot path, same figures, its own event
loop) —
and relays the protocol objects: commands in (``send``), messages out in batches (``read``, a
long poll). A worker that exits without ``Done`` comes out as ``WorkerLost`` with its exit code
and stderr, as locally; the actor dying (its node gone) is seen by the controller instead.

Imports nothing of Ray: ``driver.pool.ray_pool`` wraps the class with ``ray.remote``.
"""

from __future__ import annotations

import os
import socket
import time

from driver.pool.local import LocalProcessPool
from driver.pool.protocol import Command, Message, WorkerConfig


class WorkerHost:
    def __init__(self) -> None:
        self.pool = LocalProcessPool()

    def node(self) -> dict[str, object]:
        """Where this actor runs: Ray node id, IP, host name."""
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(),
                "ip": ray.util.get_node_ip_address(), "host": socket.gethostname(),
                "pid": os.getpid()}

    def clock(self) -> tuple[float, float]:
        """This node's UTC clock and monotonic clock (``perf_counter``), read together."""
        return time.time(), time.perf_counter()

    async def start(self, config: WorkerConfig) -> None:
        """Start the worker and wait until it is ready; raises (PoolStartError) if not."""
        await self.pool.start([config])

    async def send(self, command: Command) -> None:
        self.pool.send(command)

    async def read(self, wait: float) -> list[Message] | None:
        """The worker's messages within ``wait`` s; None when its stream has ended."""
        return await self.pool.next_messages(wait)

    async def kill(self) -> None:
        self.pool.kill()

    async def terminate(self) -> None:
        await self.pool.terminate()

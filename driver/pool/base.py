"""What a pool of load workers is, wherever they run: the ``WorkerPool`` interface.

A ``WorkerPool`` starts one worker per ``WorkerConfig``, sends commands to all of them, and
gives one stream of their messages (``driver.pool.protocol``). A worker that ends without saying
``Done`` shows in that stream as ``WorkerLost`` with its index and why, so the session can say
so and start a replacement (``replace``) that joins the same stream. The session never sees a
process. The kinds: ``driver.pool.local`` (child processes), ``driver.pool.ray_pool`` (actors).
"""

from __future__ import annotations

import asyncio
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Any

from driver.pool.protocol import Command, Message, Stop, WorkerConfig

# How long a killed worker may take to cancel its requests before it is killed itself.
KILL_DEADLINE_S = 1.0


class PoolStartError(RuntimeError):
    """A worker could not be started; the message says which and why."""


class WorkerPool(ABC):
    """Load workers, wherever they run.

    The message stream is shared: a pool's readers put messages on ``_queue`` and ``None``
    when a worker's stream ends; ``messages()`` ends when every worker started (first ones
    and replacements) has ended.
    """

    # Replacements for lost workers a run may start; 0 makes a lost worker end the run.
    max_replacements = 3
    # Seconds after a second's end when it is merged with whatever workers reported it
    # (None: wait for all; a local worker's tick is never that late).
    tick_deadline: float | None = None

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._open = 0  # worker streams (and replacements starting) not yet ended

    @abstractmethod
    async def start(self, configs: Sequence[WorkerConfig]) -> None:
        """Start one worker per config and wait until each is ready; PoolStartError if not."""

    def replace(self, config: WorkerConfig) -> asyncio.Task[None]:
        """Start a new worker for ``config.index`` (one was lost); await the task to wait
        until it is ready (PoolStartError if it cannot be). Its messages join ``messages()``,
        which stays open from this call on, even if the lost worker was the last one."""
        self._open += 1
        task = asyncio.ensure_future(self._start_replacement(config))
        task.add_done_callback(self._replacement_done)
        return task

    def _replacement_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is not None:
            self._queue.put_nowait(None)  # it never joined the stream: stop waiting for it

    @abstractmethod
    async def _start_replacement(self, config: WorkerConfig) -> None:
        """Start one worker whose stream is already counted as open; its reader ends it."""

    @abstractmethod
    def send(self, command: Command, index: int | None = None) -> None:
        """Send ``command`` to every worker still running, or to worker ``index`` only."""

    async def messages(self) -> AsyncIterator[Message]:
        """Every worker's messages, plus ``WorkerLost``; ends when all workers have ended."""
        while self._open > 0:
            message = await self._queue.get()
            if message is None:
                self._open -= 1
            else:
                yield message

    async def next_messages(self, wait: float) -> list[Message] | None:
        """The messages that arrive within ``wait`` s (at least one, or none after ``wait``);
        None once the stream has ended. For relaying the stream elsewhere (a Ray actor)."""
        batch: list[Message] = []
        while self._open > 0 and not batch:
            try:
                message = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                return batch
            while True:
                if message is None:
                    self._open -= 1
                else:
                    batch.append(message)
                if self._queue.empty():
                    break
                message = self._queue.get_nowait()
        return batch if batch or self._open > 0 else None

    def describe(self) -> dict[str, object]:
        """Where the load comes from, for the recording's header (``meta.load_source``)."""
        return {"kind": "local", "host": socket.gethostname()}

    def stop(self) -> None:
        """Stop sending; requests in flight may finish."""
        self.send(Stop())

    @abstractmethod
    def kill(self) -> None:
        """Stop all traffic now; workers still running after ``KILL_DEADLINE_S`` are ended."""

    @abstractmethod
    async def terminate(self) -> None:
        """End every worker by force now and wait until they are gone."""

    def where(self, index: int) -> str | None:
        """The node worker ``index`` runs on, when the pool knows one."""
        return None


def describe_source(source: dict[str, Any]) -> str:
    """One line saying where the load comes from (``WorkerPool.describe()``)."""
    if source.get("kind") != "ray":
        return f"load from local worker processes on {source.get('host', 'this host')}"
    nodes = [n for n in source.get("nodes") or [] if isinstance(n, dict)]
    where = "; ".join(f"{n.get('ip')} ({str(n.get('node_id'))[:8]}) workers {n.get('workers')}, "
                      f"clock {n.get('offset_ms', 0):+.1f} ms, rtt {n.get('rtt_ms', 0):.1f} ms"
                      for n in nodes)
    return f"load from Ray cluster {source.get('address')}: {len(nodes)} node(s): {where}"

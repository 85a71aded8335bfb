"""Where the load workers run: one interface, with local processes as the first kind.

A ``WorkerPool`` starts one worker per ``WorkerConfig``, sends commands to all of them, and
gives one stream of their messages (``driver.pool.protocol``). A worker that ends without saying
``Done`` shows in that stream as ``WorkerLost`` with its index and why, so the session can say
so and start a replacement (``replace``) that joins the same stream. The session never sees a
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driver.pool.protocol import (
    Command,
    Done,
    Kill,
    Message,
    ProtocolError,
    Ready,
    Stop,
    WorkerConfig,
    WorkerLost,
    decode_message,
    encode_command,
    encode_config,
)

# How long a killed worker may take to cancel its requests before it is killed itself.
KILL_DEADLINE_S = 1.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]


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


@dataclass
class _Process:
    index: int
    process: asyncio.subprocess.Process
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    stderr_reader: asyncio.Task[None] | None = None
    ended: bool = False  # Done received or the process is gone


class LocalProcessPool(WorkerPool):
    """Workers as ``python -m driver.load.process`` child processes on this host.

    Each runs in its own process group (Ctrl-C in the terminal reaches only the controller,
    which stops workers in order) and dies with the controller (PR_SET_PDEATHSIG, set by the
    worker). Commands go to stdin and messages come from stdout, one JSON line each.
    """

    def __init__(self, max_replacements: int = 3) -> None:
        super().__init__()
        self.max_replacements = max_replacements
        self._workers: list[_Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._kill_timer: asyncio.TimerHandle | None = None

    async def start(self, configs: Sequence[WorkerConfig]) -> None:
        started: list[_Process] = []
        try:
            for config in configs:
                started.append(await self._spawn(config))
                self._workers.append(started[-1])
            await asyncio.gather(*(self._wait_ready(w) for w in started))
        except BaseException:
            await self.terminate()
            raise
        for worker in started:
            self._open += 1
            self._readers.append(asyncio.create_task(self._read(worker)))

    async def _start_replacement(self, config: WorkerConfig) -> None:
        worker = await self._spawn(config)
        self._workers.append(worker)
        try:
            await self._wait_ready(worker)
        except BaseException:
            worker.ended = True
            self._force_end(worker)
            raise
        self._readers.append(asyncio.create_task(self._read(worker)))

    async def _spawn(self, config: WorkerConfig) -> _Process:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                          env.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "driver.load.process",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True,
            limit=2**24,
        )
        worker = _Process(config.index, process)
        worker.stderr_reader = asyncio.create_task(self._collect_stderr(worker))
        assert process.stdin is not None
        # A worker that dies at once closes the pipe; _wait_ready then says why, from stderr.
        with contextlib.suppress(ConnectionError):
            process.stdin.write(encode_config(config))
            await process.stdin.drain()
        return worker

    async def _wait_ready(self, worker: _Process) -> None:
        assert worker.process.stdout is not None
        line = await worker.process.stdout.readline()
        if not line:
            await worker.process.wait()
            if worker.stderr_reader is not None:
                await worker.stderr_reader
            raise PoolStartError(f"worker {worker.index} failed to start:\n"
                                 + "\n".join(worker.stderr))
        try:
            message = decode_message(line)
        except ProtocolError as exc:
            raise PoolStartError(f"worker {worker.index}: {exc}") from None
        if not isinstance(message, Ready):
            raise PoolStartError(f"worker {worker.index} sent {message!r} before ready")

    @staticmethod
    async def _collect_stderr(worker: _Process) -> None:
        stream = worker.process.stderr
        assert stream is not None
        while line := await stream.readline():
            worker.stderr.append(line.decode(errors="replace").rstrip())

    def send(self, command: Command, index: int | None = None) -> None:
        line = encode_command(command)
        for worker in self._workers:
            stdin = worker.process.stdin
            if (stdin is None or stdin.is_closing() or worker.ended
                    or (index is not None and worker.index != index)):
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                stdin.write(line)

    async def _read(self, worker: _Process) -> None:
        queue = self._queue
        stdout = worker.process.stdout
        assert stdout is not None
        reason: str | None = None
        try:
            while line := await stdout.readline():
                try:
                    message = decode_message(line)
                except ProtocolError as exc:
                    reason = f"sent an unreadable line ({exc})"
                    self._force_end(worker)
                    break
                if isinstance(message, Done):
                    worker.ended = True
                queue.put_nowait(message)
            await worker.process.wait()
            if not worker.ended:
                worker.ended = True
                if worker.stderr_reader is not None:  # the pipe closes with the process
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(worker.stderr_reader), 1.0)
                queue.put_nowait(WorkerLost(
                    worker.index, reason or f"exited with code {worker.process.returncode}",
                    "\n".join(list(worker.stderr)[-10:])))
        finally:
            queue.put_nowait(None)

    def kill(self) -> None:
        self.send(Kill())
        if self._kill_timer is None:
            loop = asyncio.get_running_loop()
            self._kill_timer = loop.call_later(KILL_DEADLINE_S, self._force_end_all)

    def _force_end_all(self) -> None:
        for worker in self._workers:
            self._force_end(worker)

    @staticmethod
    def _force_end(worker: _Process) -> None:
        if worker.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.process.pid, signal.SIGKILL)  # the worker leads its group

    async def terminate(self) -> None:
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        self._force_end_all()
        for worker in self._workers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.process.wait(), 2.0)
        for reader in self._readers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(reader), 2.0)

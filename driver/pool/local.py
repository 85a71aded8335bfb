"""Load workers as child processes of this host (``LocalProcessPool``), the first kind of
``driver.pool.base.WorkerPool``; the Ray pool runs one of these on each node.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from driver.pool.base import KILL_DEADLINE_S, PoolStartError, WorkerPool
from driver.pool.protocol import (
    Command,
    Done,
    Kill,
    ProtocolError,
    Ready,
    WorkerConfig,
    WorkerLost,
    decode_message,
    encode_command,
    encode_config,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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

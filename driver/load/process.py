"""A load worker process: ``python -m driver.load.process`` (``driver.pool`` starts them).

Speaks ``driver.pool.protocol`` over stdin/stdout around one ``driver.load.worker.Worker``:
reads the config, then commands; writes each message the worker emits as one line. Ctrl-C
belongs to the controller; the process dies with it (``PR_SET_PDEATHSIG``) and kills its load
when its stdin ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable
from contextlib import closing

from driver.http import Client
from driver.load.worker import Worker
from driver.pool import (
    Done,
    Message,
    ProtocolError,
    Ready,
    decode_command,
    decode_config,
    encode_message,
)


async def _read_commands(worker: Worker, reader: asyncio.StreamReader) -> None:
    while True:
        line = await reader.readline()
        if not line:  # the controller is gone
            worker.kill()
            worker.started.set()
            return
        try:
            command = decode_command(line)
        except ProtocolError as exc:  # a controller that speaks another version: stop safely
            print(f"loadwatch worker: {exc}", file=sys.stderr)
            worker.kill()
            worker.started.set()
            return
        worker.command(command)


async def serve(reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
    """Run one worker over a command stream; ``write`` takes one encoded output line."""

    def emit(message: Message) -> None:
        write(encode_message(message))

    first = await reader.readline()
    if not first:
        return
    config = decode_config(first)
    worker = Worker(config, emit)
    # No client timeouts: Worker._sweep_timeouts enforces config.timeout without a timer
    # per request.
    with closing(Client(limit=config.load.connections)) as client:
        commands = asyncio.create_task(_read_commands(worker, reader))
        if config.gc_freeze and os.environ.get("LOADWATCH_GC_TUNING") != "0":
            # Collector pauses at random moments were the source of send lag at high rates.
            # Move everything allocated so far out of the collector's way, and collect at
            # a moment we choose: right after each tick (see RequestCounter._collect_garbage).
            gc.collect()
            gc.freeze()
            gc.disable()
            worker.counter.collect_garbage = True
        emit(Ready(config.index, os.getpid()))
        reason = await worker.run(client)
        commands.cancel()
    emit(Done(config.index, reason, *worker.counter.totals))


async def _main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    await serve(reader, write)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker if the controller dies without closing our stdin."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main() -> None:
    # Ctrl-C belongs to the controller, which stops workers in order and keeps the recording.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:
        asyncio.run(_main())


if __name__ == "__main__":
    main()

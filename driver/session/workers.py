"""The session's side of its workers: what each is started with, its messages, and what a lost
worker means.

``worker_config`` is a worker's ``WorkerConfig`` (its share of the profile's plan). A
``WorkerWatch`` reads one run's message stream; ``driver.session.runner.Session`` builds it once
the workers have started, handing it the pool, the tick merger, the run's start time, the
config factory and callbacks into the session (emit a record, an event or released ticks, the
elapsed time, the live controls, whether the run is ending, end it incomplete). Ticks go to the
merger, ``Done`` totals are checked against the ticks, and a ``WorkerLost`` gives the event
``worker_lost``, the lost share counted as not sent, and a replacement (or the run ends
``incomplete``, exit 3).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from driver.pool import (
    Done,
    EventMessage,
    Message,
    SetControls,
    Start,
    Stop,
    TickMerger,
    TickMessage,
    WorkerConfig,
    WorkerLost,
    WorkerPool,
)
from driver.profile import Profile
from driver.schedule import Control
from metrics.records import Event, Record, Tick

# A replacement worker has this long to become ready, and starts at the first whole second
# at least REPLACE_LEAD_S after it is (so the start command is in its hands by then).
REPLACE_TIMEOUT_S = 30.0
REPLACE_LEAD_S = 0.2


def worker_config(profile: Profile, *, index: int, workers: int, target: Mapping[str, Any],
                  seed: int) -> WorkerConfig:
    """What worker ``index`` of ``workers`` is started with (a replacement too)."""
    return WorkerConfig(
        index=index,
        workers=workers,
        phases=tuple(profile.phases),
        scenarios=tuple(tuple(requests) for requests in profile.rendered_requests()),
        weights=tuple(s.weight for s in profile.scenarios),
        load=replace(profile.load, workers=workers),
        target=target,
        payload_order=profile.payload.order if profile.payload else "random",
        seed=seed,
    )


class WorkerWatch:
    """One run's worker messages. ``done`` (each worker's ``Done``) and ``background`` (the
    replacements starting) are the session's to read and cancel at the run's end."""

    def __init__(self, pool: WorkerPool, merger: TickMerger, *,
                 worker_config: Callable[[int], WorkerConfig], t0: float, epoch0: float,
                 duration: float, elapsed: Callable[[], float], emit: Callable[[Record], None],
                 event: Callable[..., Event], emit_ticks: Callable[[list[Tick]], None],
                 controls: Callable[[], Sequence[Control]], ending: Callable[[], bool],
                 end_incomplete: Callable[[int, str], None]) -> None:
        self.pool = pool
        self.merger = merger
        self.worker_config = worker_config
        self.t0 = t0
        self.epoch0 = epoch0
        self.duration = duration
        self.elapsed = elapsed
        self.emit = emit
        self.event = event
        self.emit_ticks = emit_ticks
        self.controls = controls
        self.ending = ending  # the run is stopping (stopped, killed, interrupted, incomplete)
        self.end_incomplete = end_incomplete
        self.replacements = 0
        self.done: dict[int, Done] = {}
        self.background: set[asyncio.Task[None]] = set()

    async def read_messages(self) -> None:
        async for message in self.pool.messages():
            self._on_message(message)
        self.emit_ticks(self.merger.ready(force=True))

    async def release_overdue(self, deadline: float) -> None:
        """A second some worker has not reported ``deadline`` s after its end goes out with
        the workers that did (a slow node must not freeze the live view)."""
        while True:
            await asyncio.sleep(0.25)
            self.emit_ticks(self.merger.ready(now=self.elapsed(), deadline=deadline))

    def _on_message(self, message: Message) -> None:
        match message:
            case TickMessage(worker=worker, tick=tick):
                self.emit_ticks(self.merger.add(worker, tick))
            case EventMessage(event=event):
                self.emit(event)
            case Done(worker=worker):
                self.done[worker] = message
                self._check_totals(message)
                self.emit_ticks(self.merger.worker_ended(worker))
            case WorkerLost(worker=worker, reason=reason, detail=detail):
                self._worker_lost(worker, reason, detail)

    def _check_totals(self, done: Done) -> None:
        reported = self.merger.current.get(done.worker)
        if reported is None:
            return
        said = (done.sent, done.completed, done.not_sent)
        got = (reported.sent, reported.completed, reported.not_sent)
        if said != got:
            self.event("driver", "totals_mismatch",
                       f"worker {done.worker} says it sent/completed/not sent {said}, its "
                       f"ticks add up to {got}", worker=done.worker, said=said, ticks=got)

    def _worker_lost(self, worker: int, reason: str, detail: str) -> None:
        node = self.pool.where(worker)
        lost = self.merger.worker_lost(worker)
        where = f" on {node}" if node else ""
        in_schedule = not self.ending() and self.elapsed() < self.duration
        self.event("driver", "worker_lost", f"worker {worker}{where} {reason}"
                   + ("; its share is counted as not sent" if in_schedule else ""),
                   worker=worker, node=node, reason=reason, stderr=detail,
                   reported_sent=lost.sent if lost else 0,
                   reported_completed=lost.completed if lost else 0)
        if not in_schedule:
            self.merger.close_gap(worker, math.ceil(self.elapsed()))
        elif self.replacements >= self.pool.max_replacements:
            self.end_incomplete(worker, f"no replacement left ({self.pool.max_replacements} "
                                        f"per run)")
        else:
            self.replacements += 1
            starting = self.pool.replace(self.worker_config(worker))  # keeps the stream open
            task = asyncio.create_task(self._replace(worker, starting))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        self.emit_ticks(self.merger.ready())

    async def _replace(self, worker: int, starting: asyncio.Task[None]) -> None:
        try:
            await asyncio.wait_for(starting, REPLACE_TIMEOUT_S)
        except Exception as exc:  # PoolStartError, a timeout, or the cluster's own errors
            reason = str(exc) or type(exc).__name__
            self.end_incomplete(worker, f"its replacement failed to start: {reason}")
            return
        if self.ending():  # the run ended meanwhile (its gap closed then)
            self.pool.send(Start(self.t0, self.epoch0, self.duration), worker)
            self.pool.send(Stop(), worker)
            return
        at = float(math.ceil(self.elapsed() + REPLACE_LEAD_S))
        self.merger.worker_joined(worker, int(at))
        if controls := tuple(self.controls()):
            self.pool.send(SetControls(controls), worker)
        self.pool.send(Start(self.t0, self.epoch0, at), worker)
        node = self.pool.where(worker)
        self.event("driver", "worker_replaced",
                   f"worker {worker} replaced{f' on {node}' if node else ''}: it sends its "
                   f"share from {at:g} s", worker=worker, node=node, from_second=int(at),
                   replacement=self.replacements)

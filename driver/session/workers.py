"""The session's side of its workers: their messages, and what a lost worker means.

A mixin of ``driver.session.runner.Session`` (split from it along this seam): ticks go to the
merger, ``Done`` totals are checked against the ticks, and a ``WorkerLost`` gives the event
``worker_lost``, the lost share counted as not sent, and a replacement (or the run ends
``incomplete``, exit 3).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import TYPE_CHECKING

from driver.pool import (
    Done,
    EventMessage,
    Message,
    SetControls,
    Start,
    Stop,
    TickMessage,
    WorkerConfig,
    WorkerLost,
)

if TYPE_CHECKING:
    from driver.session.runner import Session

# A replacement worker has this long to become ready, and starts at the first whole second
# at least REPLACE_LEAD_S after it is (so the start command is in its hands by then).
REPLACE_TIMEOUT_S = 30.0
REPLACE_LEAD_S = 0.2


class WorkerWatch:
    """Message handling for ``Session``; reads the session's own attributes."""

    async def _read_messages(self: Session) -> None:
        async for message in self.pool.messages():
            self._on_message(message)
        self._emit_ticks(self._merger.ready(force=True))

    def _worker_config(self: Session, index: int) -> WorkerConfig:
        profile = self.profile
        return WorkerConfig(
            index=index,
            workers=self.workers,
            phases=tuple(profile.phases),
            scenarios=tuple(tuple(requests) for requests in profile.rendered_requests()),
            weights=tuple(s.weight for s in profile.scenarios),
            load=replace(profile.load, workers=self.workers),
            target=self.target,
            payload_order=profile.payload.order if profile.payload else "random",
            seed=self.seed,
        )

    async def _release_overdue(self: Session, deadline: float) -> None:
        """A second some worker has not reported ``deadline`` s after its end goes out with
        the workers that did (a slow node must not freeze the live view)."""
        while True:
            await asyncio.sleep(0.25)
            self._emit_ticks(self._merger.ready(now=self.elapsed(), deadline=deadline))

    def _on_message(self: Session, message: Message) -> None:
        match message:
            case TickMessage(worker=worker, tick=tick):
                self._emit_ticks(self._merger.add(worker, tick))
            case EventMessage(event=event):
                self.emit(event)
            case Done(worker=worker):
                self._done[worker] = message
                self._check_totals(message)
                self._emit_ticks(self._merger.worker_ended(worker))
            case WorkerLost(worker=worker, reason=reason, detail=detail):
                self._worker_lost(worker, reason, detail)

    def _check_totals(self: Session, done: Done) -> None:
        reported = self._merger.current.get(done.worker)
        if reported is None:
            return
        said = (done.sent, done.completed, done.not_sent)
        got = (reported.sent, reported.completed, reported.not_sent)
        if said != got:
            self.event("driver", "totals_mismatch",
                       f"worker {done.worker} says it sent/completed/not sent {said}, its "
                       f"ticks add up to {got}", worker=done.worker, said=said, ticks=got)

    def _worker_lost(self: Session, worker: int, reason: str, detail: str) -> None:
        node = self.pool.where(worker)
        lost = self._merger.worker_lost(worker)
        where = f" on {node}" if node else ""
        in_schedule = self.reason is None and self.elapsed() < self.duration
        self.event("driver", "worker_lost", f"worker {worker}{where} {reason}"
                   + ("; its share is counted as not sent" if in_schedule else ""),
                   worker=worker, node=node, reason=reason, stderr=detail,
                   reported_sent=lost.sent if lost else 0,
                   reported_completed=lost.completed if lost else 0)
        if not in_schedule:
            self._merger.close_gap(worker, math.ceil(self.elapsed()))
        elif self._replacements >= self.pool.max_replacements:
            self._incomplete(worker, f"no replacement left ({self.pool.max_replacements} "
                                     f"per run)")
        else:
            self._replacements += 1
            starting = self.pool.replace(self._worker_config(worker))  # keeps the stream open
            task = asyncio.create_task(self._replace(worker, starting))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._emit_ticks(self._merger.ready())

    async def _replace(self: Session, worker: int, starting: asyncio.Task[None]) -> None:
        try:
            await asyncio.wait_for(starting, REPLACE_TIMEOUT_S)
        except Exception as exc:  # PoolStartError, a timeout, or the cluster's own errors
            reason = str(exc) or type(exc).__name__
            self._incomplete(worker, f"its replacement failed to start: {reason}")
            return
        if self.reason is not None:  # the run ended meanwhile (its gap closed then)
            self.pool.send(Start(self.t0, self.epoch0, self.duration), worker)
            self.pool.send(Stop(), worker)
            return
        at = float(math.ceil(self.elapsed() + REPLACE_LEAD_S))
        self._merger.worker_joined(worker, int(at))
        if self.controls:
            self.pool.send(SetControls(tuple(self.controls)), worker)
        self.pool.send(Start(self.t0, self.epoch0, at), worker)
        node = self.pool.where(worker)
        self.event("driver", "worker_replaced",
                   f"worker {worker} replaced{f' on {node}' if node else ''}: it sends its "
                   f"share from {at:g} s", worker=worker, node=node, from_second=int(at),
                   replacement=self._replacements)

    def _incomplete(self: Session, worker: int, why: str) -> None:
        if self.reason is not None:
            return
        self.reason = "incomplete"
        self._merger.close_all(math.ceil(self.elapsed()))
        self.event("session", "incomplete", f"worker {worker} lost and {why}: stopping the "
                   "run; the recording is incomplete", worker=worker)
        self.pool.stop()


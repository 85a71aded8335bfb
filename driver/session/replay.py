"""Replay: a recording played back as a producer, at the pace it was recorded.

Each record gets the elapsed time at which it reached the consumers during the live run, and
``advance`` emits every record due by the replay's position, in file order. Records that carry
no elapsed time (CloudWatch datapoints, scaling activities) arrived between their neighbours, so
they take the time of the record before them; a tick for second k arrived at the end of it,
k + 1. Server datapoints therefore appear as late in the replay as they did live.

Seeking backwards cannot un-add records from the consumer's state, so it calls ``reset`` and
emits everything again from the start up to the new position. Nothing here sleeps unless
``run`` is awaited: tests drive the position with an injected clock and call ``advance``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable, Sequence

from metrics.recording import Recording
from metrics.records import EndpointState, Event, Footer, Header, Record, Tick

# Speeds offered by faster/slower; 1 is the recorded pace.
SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
# At most this many records are emitted between yields to the event loop while catching up
# (a seek across an hour), so the UI stays responsive during a long rebuild.
CATCH_UP_BATCH = 400


def arrival_times(records: Sequence[Record]) -> list[float]:
    """The elapsed time at which each record reached consumers live (non-decreasing)."""
    times: list[float] = []
    latest = 0.0
    for record in records:
        if isinstance(record, Tick):
            at = record.second + 1.0
        elif isinstance(record, Event | EndpointState | Footer):
            at = record.elapsed
        else:  # Header, Datapoint, ScalingActivity: no elapsed of their own
            at = latest
        latest = max(latest, at)
        times.append(latest)
    return times


class Replay:
    """Emits a recording's records at their recorded pace, with player controls.

    ``emit`` receives each record; ``reset`` is called before a seek backwards re-emits the
    records from the start. ``clock`` is any monotonic clock in seconds.
    """

    def __init__(self, records: Sequence[Record], emit: Callable[[Record], None],
                 reset: Callable[[], None], *, clock: Callable[[], float] = time.monotonic,
                 speed: float = 1.0, paused: bool = False) -> None:
        self.records = list(records)
        self.times = arrival_times(self.records)
        self.emit = emit
        self.reset = reset
        self.clock = clock
        self.speed = speed
        self.paused = paused
        self.emitted = 0  # records [0, emitted) have been emitted
        self._anchor_position = 0.0
        self._anchor_clock = clock()
        self._wake = asyncio.Event()
        self._rewind = False

    @classmethod
    def from_recording(cls, recording: Recording, emit: Callable[[Record], None],
                       reset: Callable[[], None], **options: object) -> Replay:
        records: list[Record] = [recording.header, *recording.records]
        if recording.footer is not None:
            records.append(recording.footer)
        return cls(records, emit, reset, **options)  # type: ignore[arg-type]

    # --- where we are ----------------------------------------------------------------------

    @property
    def duration(self) -> float:
        return self.times[-1] if self.times else 0.0

    @property
    def position(self) -> float:
        """Elapsed seconds of the recorded session the replay has reached."""
        if self.paused:
            return self._anchor_position
        moved = (self.clock() - self._anchor_clock) * self.speed
        return min(self.duration, self._anchor_position + moved)

    @property
    def finished(self) -> bool:
        """Every record has been emitted."""
        return self.emitted >= len(self.records)

    @property
    def header(self) -> Header | None:
        first = self.records[0] if self.records else None
        return first if isinstance(first, Header) else None

    def _reanchor(self, position: float) -> None:
        self._anchor_position = min(max(position, 0.0), self.duration)
        self._anchor_clock = self.clock()
        self._wake.set()

    # --- controls --------------------------------------------------------------------------

    def pause(self) -> None:
        if not self.paused:
            self._reanchor(self.position)
            self.paused = True

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        if self.finished and self._anchor_position >= self.duration:
            self.seek_to(0.0)  # play from the end means play again from the start
        else:
            self._reanchor(self._anchor_position)

    def toggle_pause(self) -> None:
        self.resume() if self.paused else self.pause()

    def seek_to(self, position: float) -> None:
        """Jump to ``position`` elapsed seconds; the next ``advance`` catches up."""
        position = min(max(position, 0.0), self.duration)
        if self.emitted and position < self.times[self.emitted - 1]:
            self._rewind = True
        self._reanchor(position)

    def seek(self, delta: float) -> None:
        self.seek_to(self.position + delta)

    def to_start(self) -> None:
        self.seek_to(0.0)

    def to_end(self) -> None:
        self.seek_to(self.duration)

    def set_speed(self, speed: float) -> None:
        position = self.position
        self.speed = max(speed, 1e-3)
        self._reanchor(position)

    def faster(self) -> None:
        self.set_speed(next((s for s in SPEEDS if s > self.speed), SPEEDS[-1]))

    def slower(self) -> None:
        self.set_speed(next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0]))

    # --- playing ---------------------------------------------------------------------------

    def advance(self, limit: int | None = None) -> int:
        """Emit the records due by the current position (at most ``limit``); return how many."""
        if self._rewind:
            self._rewind = False
            self.emitted = 0
            self.reset()
        due = bisect.bisect_right(self.times, self.position)
        if limit is not None:
            due = min(due, self.emitted + limit)
        count = 0
        while self.emitted < due:
            record = self.records[self.emitted]
            self.emitted += 1
            count += 1
            self.emit(record)
        return count

    def seconds_to_next(self) -> float | None:
        """Clock seconds until the next record is due (None: paused or nothing left)."""
        if self.paused or self.finished:
            return None
        return max(0.0, (self.times[self.emitted] - self.position) / self.speed)

    def poke(self) -> None:
        """Wake ``run`` to look at the clock again (tests move an injected clock, then poke)."""
        self._wake.set()

    async def run(self) -> None:
        """Play until cancelled: emit records when due, wake early on any control."""
        while True:
            self._wake.clear()
            emitted = self.advance(CATCH_UP_BATCH)
            if emitted == CATCH_UP_BATCH:
                await asyncio.sleep(0)  # more to catch up: let the UI breathe first
                continue
            delay = self.seconds_to_next()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

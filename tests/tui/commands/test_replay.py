"""The replay producer: recorded pace, pause, seek, speed and jumps, driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from driver.session.replay import SPEEDS, Replay, arrival_times
from metrics.records import Datapoint, Event, Footer, Header, Record, ScalingActivity, Tick
from metrics.timeline import Timeline


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _records(seconds: int = 10) -> list[Record]:
    epoch = 1_700_000_000.0
    records: list[Record] = [
        Header(format=1, tool_version="test", started_at="", t=epoch, target="http://x"),
        Event(epoch, 0.0, "schedule", "phase_started", "phase 1"),
    ]
    for second in range(seconds):
        records.append(Tick(second=second, t=epoch + second, elapsed=float(second),
                            phase="p", phase_index=0, target_rps=10.0, sent=10, completed=10,
                            outcomes={"ok": 10}))
        if second == 4:  # a datapoint for the first period arrives after tick 4
            records.append(Datapoint(epoch, 5, "AWS/SageMaker", "Invocations", "Sum", 50.0))
            records.append(ScalingActivity(epoch + 2, "a1", "InProgress", "scale out"))
        if second == 6:
            records.append(Event(epoch + 6.5, 6.5, "operator", "marker", "look"))
    records.append(Footer(epoch + seconds + 0.2, seconds + 0.2, "completed"))
    return records


def _replay(records: list[Record] | None = None, **options: object
            ) -> tuple[Replay, FakeClock, list[Record], list[int]]:
    clock = FakeClock()
    seen: list[Record] = []
    resets: list[int] = []

    def reset() -> None:
        resets.append(len(seen))
        seen.clear()

    replay = Replay(records or _records(), seen.append, reset, clock=clock, **options)
    return replay, clock, seen, resets


def test_arrival_times_follow_the_recording() -> None:
    records = _records()
    times = arrival_times(records)
    assert times == sorted(times)
    by_type = {type(r).__name__: t for r, t in zip(records, times, strict=True)}
    assert times[0] == 0.0  # header
    assert times[2] == 1.0  # tick of second 0 arrived at its end
    # The datapoint has no elapsed of its own: it arrived right after the tick of second 4.
    assert by_type["Datapoint"] == 5.0 and by_type["ScalingActivity"] == 5.0
    assert by_type["Footer"] == pytest.approx(10.2)


def test_records_come_at_the_recorded_pace() -> None:
    replay, clock, seen, _ = _replay()
    assert replay.advance() == 2  # header and the phase event at 0
    clock.now += 2.5
    replay.advance()
    assert [r.second for r in seen if isinstance(r, Tick)] == [0, 1]
    clock.now += 100
    replay.advance()
    assert replay.finished
    assert isinstance(seen[-1], Footer)
    assert len(seen) == len(replay.records)
    assert replay.position == replay.duration


def test_speed_scales_the_pace_and_keeps_the_position() -> None:
    replay, clock, _seen, _ = _replay()
    clock.now += 2.0
    replay.faster()
    assert replay.speed == 2.0
    assert replay.position == pytest.approx(2.0)
    clock.now += 1.0
    assert replay.position == pytest.approx(4.0)
    replay.slower()
    replay.slower()
    assert replay.speed == 0.5
    for _ in range(20):
        replay.faster()
    assert replay.speed == SPEEDS[-1]


def test_pause_stops_the_clock_and_resume_goes_on_from_there() -> None:
    replay, clock, seen, _ = _replay()
    clock.now += 3.0
    replay.pause()
    clock.now += 50.0
    replay.advance()
    assert replay.position == pytest.approx(3.0)
    assert [r.second for r in seen if isinstance(r, Tick)] == [0, 1, 2]
    assert replay.seconds_to_next() is None
    replay.resume()
    clock.now += 1.0
    replay.advance()
    assert [r.second for r in seen if isinstance(r, Tick)] == [0, 1, 2, 3]


def test_seeking_back_rebuilds_the_state_from_the_start() -> None:
    replay, clock, seen, resets = _replay()
    timeline = Timeline()
    replay.emit = lambda record: (seen.append(record), timeline.add(record))

    def reset() -> None:
        nonlocal timeline
        resets.append(len(seen))
        seen.clear()
        timeline = Timeline()

    replay.reset = reset
    clock.now += 8.0
    replay.advance()
    assert len(timeline.client) == 8
    replay.seek(-5.0)
    assert replay.position == pytest.approx(3.0)
    replay.advance()
    assert len(resets) == 1  # one reset, then the re-emission
    assert len(timeline.client) == 3
    assert timeline.header is not None  # the header came again
    assert not timeline.server  # the datapoint arrives at 5 s: not yet


def test_seeking_forward_emits_what_was_skipped_without_a_reset() -> None:
    replay, _clock, seen, resets = _replay()
    replay.advance()
    replay.seek(6.0)
    replay.advance()
    assert not resets
    assert any(isinstance(r, Datapoint) for r in seen)
    assert [r.second for r in seen if isinstance(r, Tick)] == [0, 1, 2, 3, 4, 5]


def test_jump_to_end_and_start() -> None:
    replay, _clock, seen, resets = _replay()
    replay.to_end()
    replay.advance()
    assert replay.finished and isinstance(seen[-1], Footer)
    replay.to_start()
    replay.advance()
    assert resets and replay.position == 0.0
    assert [type(r).__name__ for r in seen] == ["Header", "Event"]


def test_resume_at_the_end_plays_again_from_the_start() -> None:
    replay, _clock, _seen, resets = _replay(paused=True)
    replay.to_end()
    replay.advance()
    replay.resume()
    replay.advance()
    assert resets
    assert replay.position == 0.0 and not replay.paused


def test_seek_is_clamped_to_the_recording() -> None:
    replay, _clock, _, _ = _replay()
    replay.seek(-100)
    assert replay.position == 0.0
    replay.seek(1e6)
    assert replay.position == replay.duration


async def test_run_emits_when_the_clock_moves_and_it_is_poked() -> None:
    replay, clock, seen, _ = _replay()
    arrived = asyncio.Event()
    replay.emit = lambda record: (seen.append(record), arrived.set())
    task = asyncio.create_task(replay.run())
    try:
        await asyncio.wait_for(arrived.wait(), 5)
        assert [type(r).__name__ for r in seen] == ["Header", "Event"]
        arrived.clear()
        clock.now += 1.0
        replay.poke()
        await asyncio.wait_for(arrived.wait(), 5)
        assert isinstance(seen[-1], Tick) and seen[-1].second == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

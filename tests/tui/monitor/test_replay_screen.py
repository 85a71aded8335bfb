"""Replay in the monitor: the player keys on a frozen clock, remapped keys, and what the
screen redraws. The recording is the sandbox fixture; nothing here can reach an endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from metrics.recording import read_recording
from metrics.records import Event, Footer, Tick
from metrics.timeline import clock, downsample, nice_bucket
from tests.tui.helpers import FIXTURES
from tui.monitor.app import KeymapError, MonitorApp, binding_ids, load_keymap
from tui.monitor.screens import ConfirmScreen, ReplayScreen
from tui.monitor.widgets.chart import TimeChart, steps, time_ticks
from tui.monitor.widgets.event_log import MAX_LINES, EventLog

RECORDING = FIXTURES / "sandbox-scaling.jsonl"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _replay_app(clock: FakeClock, keymap: dict[str, str] | None = None,
                **options: Any) -> tuple[MonitorApp, ReplayScreen]:
    screen = ReplayScreen(read_recording(RECORDING), clock=clock, **options)
    return MonitorApp(screen, keymap), screen


async def _caught_up(pilot: Any, screen: ReplayScreen) -> None:
    """Let the replay worker emit what is due (it runs on the app's loop)."""
    for _ in range(100):
        await pilot.pause()
        if screen.replay.seconds_to_next() != 0.0:  # nothing due: caught up
            return
    raise AssertionError("the replay did not catch up")


def _ticks(screen: ReplayScreen) -> int:
    return screen.timeline.counts["tick"]


async def test_player_keys_move_through_the_recording() -> None:
    clock = FakeClock()
    app, screen = _replay_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await _caught_up(pilot, screen)
        assert screen.replay.position == 0.0 and _ticks(screen) == 0
        assert screen.timeline.header is not None

        await pilot.press("right")  # +10 s: the ticks of seconds 0-9 have arrived
        await _caught_up(pilot, screen)
        assert screen.replay.position == pytest.approx(10.0)
        assert _ticks(screen) == 10

        clock.now += 5.0  # 5 s of playing at 1x
        screen.replay.poke()
        await _caught_up(pilot, screen)
        assert _ticks(screen) == 15

        await pilot.press("up")  # faster: 2x
        assert screen.replay.speed == 2.0
        clock.now += 2.0
        assert screen.replay.position == pytest.approx(19.0)

        await pilot.press("space")
        assert screen.replay.paused and screen.status().mode == "REPLAY PAUSED"
        clock.now += 100.0
        assert screen.replay.position == pytest.approx(19.0)

        await pilot.press("left")  # back 10 s: the state is rebuilt from the start
        await _caught_up(pilot, screen)
        assert screen.replay.position == pytest.approx(9.0)
        assert _ticks(screen) == 9 and len(screen.timeline.client) == 9

        await pilot.press("pagedown")  # +1 min
        await _caught_up(pilot, screen)
        assert screen.replay.position == pytest.approx(69.0)

        await pilot.press("end")
        await _caught_up(pilot, screen)
        assert screen.replay.finished and screen.timeline.footer is not None
        assert screen.event_log.lines_added > 0

        await pilot.press("home")
        await _caught_up(pilot, screen)
        assert screen.replay.position == 0.0 and _ticks(screen) == 0

        await pilot.press("k", "e", "m")  # the live keys do not exist here
        assert pilot.app.screen is screen and not isinstance(pilot.app.screen, ConfirmScreen)

        await pilot.press("q")
    assert app.return_value == 0


async def test_events_appear_as_they_happened() -> None:
    clock = FakeClock()
    app, screen = _replay_app(clock)
    recording = read_recording(RECORDING)
    scaled_at = next(r.elapsed for r in recording.records if isinstance(r, Event)
                     and r.name == "scaling_enabled")
    async with app.run_test(size=(120, 40)) as pilot:
        await _caught_up(pilot, screen)
        before = [e.name for e in screen.timeline.events]
        assert "scaling_enabled" not in before or scaled_at == 0.0
        screen.replay.seek_to(max(scaled_at, 1.0))
        await _caught_up(pilot, screen)
        assert "scaling_enabled" in [e.name for e in screen.timeline.events]
        assert screen.scaling_text() is not None


async def test_keys_can_be_remapped() -> None:
    app, screen = _replay_app(FakeClock(), keymap={"to-end": "z", "seek-forward": "f"})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end")  # no longer bound
        await _caught_up(pilot, screen)
        assert not screen.replay.finished
        await pilot.press("f")
        assert screen.replay.position == pytest.approx(10.0)
        await pilot.press("z")
        await _caught_up(pilot, screen)
        assert screen.replay.finished


async def test_charts_redraw_only_when_their_inputs_change() -> None:
    app, screen = _replay_app(FakeClock(), start=None, paused=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await _caught_up(pilot, screen)
        screen.refresh_charts()
        charts = list(screen.query(TimeChart))
        drawn = [c.redraws for c in charts]
        assert all(drawn)
        screen.refresh_charts()
        screen.refresh_charts()
        assert [c.redraws for c in charts] == drawn  # nothing moved: nothing redrawn
        await pilot.press("left")  # back 10 s: new data and range, so they redraw
        await _caught_up(pilot, screen)
        screen.refresh_charts()
        again = [c.redraws for c in charts]
        assert all(a > d for a, d in zip(again, drawn, strict=True))
        screen.refresh_charts()
        assert [c.redraws for c in charts] == again


def test_keymap_file(tmp_path: Path) -> None:
    good = tmp_path / "keymap.yml"
    good.write_text("kill: x\nrate-up: 'up, k'\n")
    assert load_keymap(good) == {"kill": "x", "rate-up": "up,k"}
    assert {"kill", "rate-up", "to-end", "window", "help", "quit"} <= binding_ids()

    unknown = tmp_path / "unknown.yml"
    unknown.write_text("explode: x\n")
    with pytest.raises(KeymapError, match="unknown binding id 'explode'"):
        load_keymap(unknown)
    listed = tmp_path / "list.yml"
    listed.write_text("- kill\n")
    with pytest.raises(KeymapError, match="expected a mapping"):
        load_keymap(listed)
    assert load_keymap(tmp_path / "absent.yml") == {}


def test_event_log_keeps_a_bounded_backlog() -> None:
    log = EventLog()
    for i in range(5 * MAX_LINES):
        log.add(Event(0.0, float(i), "target", "error", f"error {i}"))
    assert len(log._pending) == MAX_LINES
    assert log.lines_added == 5 * MAX_LINES


@pytest.mark.parametrize(("span", "points", "bucket"), [
    (60, 200, 1), (300, 200, 2), (1800, 200, 10), (7200, 200, 60), (36000, 100, 600)])
def test_buckets_are_round_and_fit(span: float, points: int, bucket: int) -> None:
    assert nice_bucket(span, points) == bucket


def test_downsample_is_aligned_to_time_and_skips_gaps() -> None:
    xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    ys = [1.0, 3.0, None, 5.0, 7.0, 100.0]
    assert downsample(xs, ys, 2, x0=0.0, x1=5.0) == ([0.0, 2.0, 4.0], [2.0, 5.0, 7.0])
    assert downsample(xs, ys, 2, "max", 1.0, 6.0) == ([0.0, 2.0, 4.0], [3.0, 5.0, 100.0])
    assert downsample(xs, ys, 1) == ([0.0, 1.0, 3.0, 4.0, 5.0], [1.0, 3.0, 5.0, 7.0, 100.0])
    assert steps([10.0, 20.0], [1.0, 2.0], 10.0) == ([10.0, 20.0, 20.0, 30.0],
                                                      [1.0, 1.0, 2.0, 2.0])
    ticks, labels = time_ticks(0.0, 600.0, 60)
    assert labels[0] == "0:00" and labels[-1] == "10:00" and len(ticks) <= 6


@pytest.mark.parametrize(("seconds", "text"), [
    (59.4, "0:59"), (59.6, "1:00"), (0.5, "0:01"), (3599.5, "1:00:00"), (-61.0, "-1:01")])
def test_one_clock_rounds_to_the_nearest_second(seconds: float, text: str) -> None:
    """The monitor once truncated 59.6 s to 0:59 while the report rounded it to 1:00."""
    assert clock(seconds) == text


def test_the_fixture_is_a_scaling_story() -> None:
    """What the snapshots and replay tests rely on being in the recording."""
    recording = read_recording(RECORDING)
    kinds = {type(r).__name__ for r in recording.records}
    assert {"Tick", "Event", "Datapoint", "EndpointState", "ScalingActivity"} <= kinds
    assert isinstance(recording.footer, Footer)
    assert sum(r.outcomes.get("5xx", 0) for r in recording.records if isinstance(r, Tick))

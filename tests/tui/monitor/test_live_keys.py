"""Each live key does what it says, on a real session: workers, a local server, a recording."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from driver.session import RunOptions
from metrics.recording import read_recording
from metrics.records import Event, Tick
from tests.tui.helpers import live_monitor, notifications, until
from tui.commands.cli import main
from tui.monitor.screens import ConfirmScreen, QuitScreen
from tui.monitor.screens.help import HelpScreen, binding_rows
from tui.monitor.screens.live import LiveScreen, nice_step, rate_steps

PROFILE = """
config:
  target: {url}
  phases:
    - {{duration: 60, arrivalRate: 20, name: steady}}
scenarios:
  - flow:
      - post: {{url: /invocations, body: "5,3.5,1.3,0.3"}}
"""


def _profile(write_profile, server) -> Path:
    return write_profile(PROFILE.format(url=server.url))


def _after(at: float, rps: float):
    """A tick of a whole second after ``at`` whose target is ``rps``."""
    first = math.ceil(at)
    return lambda r: isinstance(r, Tick) and r.second >= first and r.target_rps == rps


def test_rate_steps_are_round_numbers() -> None:
    assert rate_steps(20) == (1.0, 5.0)
    assert rate_steps(800) == (50.0, 200.0)
    assert nice_step(0.3) == 1.0
    assert nice_step(37) == 50.0 and nice_step(29) == 20.0


async def test_rate_keys_reach_the_workers(target_server, write_profile, tmp_path) -> None:
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(_profile(write_profile, target_server), options) as (pilot, live):
        session = live.session
        await pilot.press("up", "pageup")  # +1, +5
        tick = await until(session, _after(session.controls[-1].at, 26.0))
        assert tick.sent > 0
        await pilot.press("s")
        assert session.control.mode == "schedule"
        await until(session, _after(session.controls[-1].at, 20.0))
        await pilot.press("down", "pagedown")  # -1, -5
        await until(session, _after(session.controls[-1].at, 14.0))
        served = target_server.requests
        assert served > 0
    events = [r for r in read_recording(options.record).records if isinstance(r, Event)
              and r.source == "operator"]
    assert [e.name for e in events][:5] == ["rate_set", "rate_set", "schedule", "rate_set",
                                            "rate_set"]
    assert [e.data["value"] for e in events if e.name == "rate_set"] == [21, 26, 19, 14]


async def test_pause_resume_marker_window_help(target_server, write_profile, tmp_path) -> None:
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(_profile(write_profile, target_server), options) as (pilot, live):
        session = live.session
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen)

        await pilot.press("p")
        assert session.control.paused
        paused = await until(session, _after(session.controls[-1].at, 0.0))
        assert paused.sent == 0
        assert screen.status().mode == "PAUSED"
        await pilot.press("p")
        assert not session.control.paused
        await until(session, _after(session.controls[-1].at, 20.0))

        pressed = session.elapsed()
        await pilot.press("m")
        await pilot.press(*"warm cache", "enter")
        marker = next(e for e in screen.timeline.events if e.name == "marker")
        assert marker.message == "warm cache"
        assert abs(marker.elapsed - pressed) < 1.0  # stamped when m was pressed

        assert screen.window[1] == "5 min"
        await pilot.press("w")
        assert screen.window[1] == "30 min"
        await pilot.press("w")
        assert screen.window[1] == "whole run"

        await pilot.press("question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        rows = {row[2]: row[0] for row in binding_rows(screen)}
        assert rows["rate-up"] == "↑, +" and rows["rate-down-large"] == "pgdn"
        assert {"schedule", "pause", "kill", "marker", "scaling-enable", "scaling-disable",
                "window", "help", "quit"} <= rows.keys()
        await pilot.press("escape")
        assert pilot.app.screen is screen

        await pilot.press("e")  # a plain HTTP target has no scaling policy
        assert pilot.app.screen is screen
        assert any("no scaling policy" in n for n in notifications(pilot.app))
    names = [r.name for r in read_recording(options.record).records if isinstance(r, Event)]
    assert {"paused", "resumed", "marker"} <= set(names)


async def test_a_driven_run_offers_no_steering_keys(target_server, write_profile,
                                                   tmp_path) -> None:
    """Under the capacity search the rate and scaling keys are gone; kill and marker stay."""
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(_profile(write_profile, target_server), options,
                            steered_by="the capacity search") as (pilot, live):
        session = live.session
        screen = pilot.app.screen
        await pilot.press("up", "pageup", "s", "p", "e")
        assert session.controls == [] and not session.control.paused
        assert pilot.app.screen is screen  # no scaling dialog either
        ids = {row[2] for row in binding_rows(screen)}
        assert {"kill", "marker", "quit", "help"} <= ids
        assert not ids & {"rate-up", "rate-down", "rate-up-large", "rate-down-large",
                          "schedule", "pause", "scaling-enable", "scaling-disable"}
        assert "the rate, pause and scaling keys are off" in " ".join(screen.help_notes())
    names = [r.name for r in read_recording(options.record).records if isinstance(r, Event)
             and r.source == "operator"]
    assert names == []


async def test_kill_asks_then_stops_all_traffic(target_server, write_profile, tmp_path) -> None:
    target_server.delay = 0.3  # requests are in flight when the kill comes
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(_profile(write_profile, target_server), options) as (pilot, live):
        session = live.session
        await until(session, lambda r: isinstance(r, Tick) and r.second >= 1)
        await pilot.press("k")
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("n")
        assert session.reason is None
        await pilot.press("k", "y")
        assert session.reason == "killed"
        result = await live.task
        assert result.reason == "killed"
        await pilot.pause()
        assert pilot.app.screen.status().mode == "KILLED"
    recording = read_recording(options.record)
    killed = next(r for r in recording.records if isinstance(r, Event) and r.name == "killed")
    sending = [r.second for r in recording.records if isinstance(r, Tick) and r.sent]
    # Nothing was sent after the second that follows the kill: traffic stopped within 1 s.
    assert max(sending) <= int(killed.elapsed) + 1
    assert recording.footer is not None and recording.footer.reason == "killed"


async def test_quit_stops_the_load_and_finishes_the_recording(target_server, write_profile,
                                                              tmp_path) -> None:
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(_profile(write_profile, target_server), options) as (pilot, live):
        await pilot.press("q")
        assert isinstance(pilot.app.screen, QuitScreen)
        await pilot.press("escape")
        assert live.running
        await pilot.press("q", "y")
        await live.task
        await pilot.pause()
        assert pilot.app.return_value == 130
    recording = read_recording(options.record)
    assert recording.footer is not None and recording.footer.reason == "interrupted"


async def test_quit_after_the_session_ended_asks_nothing(target_server, write_profile,
                                                         tmp_path) -> None:
    options = RunOptions(record=tmp_path / "run.jsonl")
    async with live_monitor(_profile(write_profile, target_server), options) as (pilot, live):
        live.session.kill()
        await live.task
        await pilot.pause()
        await pilot.press("q")  # over, and no scaling to restore: nothing to confirm
        await pilot.pause()
        assert not isinstance(pilot.app.screen, QuitScreen)
        assert pilot.app.return_value == live.exit_code  # the app exited with the run's code


def test_the_monitor_steps_back_from_the_workers() -> None:
    """Every thread of the monitor process gets nicer; run in a child, not to slow the tests."""
    code = ("import os, threading\n"
            "from tui.monitor.screens.live import yield_cpu_to_workers\n"
            "before = os.getpriority(os.PRIO_PROCESS, 0)\n"
            "ready, done = threading.Event(), threading.Event()\n"
            "def other():\n"
            "    ready.set(); done.wait()\n"
            "    print(os.getpriority(os.PRIO_PROCESS, 0))\n"
            "thread = threading.Thread(target=other); thread.start(); ready.wait()\n"
            "yield_cpu_to_workers(5)\n"
            "print(before); print(os.getpriority(os.PRIO_PROCESS, 0)); done.set(); thread.join()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    before, main_thread, other_thread = (int(n) for n in out)
    assert main_thread == other_thread == min(19, before + 5)


def test_replay_of_a_missing_or_foreign_file_says_why(tmp_path, capsys) -> None:
    assert main(["replay", str(tmp_path / "nothing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    foreign = tmp_path / "notes.jsonl"
    foreign.write_text("hello\n")
    assert main(["replay", str(foreign)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a loadwatch recording" in err and len(err.splitlines()) == 1

"""Replay of a streaming LLM recording: the monitor shows the LLM figures and lines, as live."""

from __future__ import annotations

from pathlib import Path

from metrics.recording import read_recording
from tests.tui.monitor.test_replay_screen import FakeClock, _caught_up
from tui.monitor.app import MonitorApp
from tui.monitor.screens import ReplayScreen
from tui.monitor.widgets import FiguresPanel

RECORDING = Path(__file__).parents[2] / "fixtures" / "sandbox-llm-heavy.jsonl"


async def test_replaying_an_llm_run_shows_its_llm_figures() -> None:
    screen = ReplayScreen(read_recording(RECORDING), clock=FakeClock())
    app = MonitorApp(screen)
    async with app.run_test(size=(160, 50)) as pilot:
        await _caught_up(pilot, screen)
        await pilot.press("pagedown")  # +1 min: past the end of the 27 s run
        await _caught_up(pilot, screen)
        panel = screen.query_one(FiguresPanel)
        for _ in range(100):  # the panel redraws on the screen's refresh timer
            labels = {label for label, _ in panel._rows}
            if "run so far" in labels:
                break
            await pilot.pause(0.02)
        assert {"tokens in/out", "TTFT p50/p99", "TPOT p50", "goodput"} <= labels
        assert any(label.startswith("LLM, last") for label in labels)
        assert screen.timeline.client.values["ttft_p99_ms"][-5:] != [None] * 5
        await pilot.press("q")

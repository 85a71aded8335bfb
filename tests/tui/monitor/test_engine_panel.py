"""The monitor's engine panel: there only when the session scrapes an engine; with a real vLLM
recording it draws vLLM's running and waiting beside the client's in flight; with a failing
endpoint it says "no engine metrics" and why."""

from __future__ import annotations

from pathlib import Path

from metrics.recording import Recording, read_recording
from metrics.records import Event
from tests.tui.monitor.test_replay_screen import FakeClock, _caught_up
from tui.monitor.app import MonitorApp
from tui.monitor.screens import ReplayScreen
from tui.monitor.widgets import EngineChart

FIXTURES = Path(__file__).parents[2] / "fixtures"
VLLM = FIXTURES / "vllm-engine.jsonl"  # a real vLLM server's run (docs/engine-metrics.md)
PLAIN = FIXTURES / "http-1x.jsonl"


async def _panel(recording: Recording, done=lambda shown, title, note: True,  # type: ignore[no-untyped-def]
                 ) -> tuple[bool, str, str]:
    """(shown, title, note) of the engine panel once the replay reached its end and ``done``
    holds (or after 2 s of redraws: the caller's asserts then say what is missing)."""
    screen = ReplayScreen(recording, clock=FakeClock())
    app = MonitorApp(screen)
    async with app.run_test(size=(160, 45)) as pilot:
        await _caught_up(pilot, screen)
        await pilot.press("end")
        await _caught_up(pilot, screen)
        charts = list(screen.query(EngineChart))
        shown, title, note = bool(charts), "", ""
        for _ in range(100 if charts else 0):  # the charts redraw on the refresh timer
            await pilot.pause(0.02)
            chart = charts[0]
            title, note = str(chart.border_title or ""), str(chart.border_subtitle or "")
            if chart.redraws and done(shown, title, note):
                break
        await pilot.press("q")
    return shown, title, note


async def test_a_run_without_an_engine_has_no_engine_panel() -> None:
    shown, _, _ = await _panel(read_recording(PLAIN))
    assert not shown


async def test_a_real_vllm_run_draws_its_gauges_beside_the_clients_in_flight() -> None:
    shown, title, note = await _panel(read_recording(VLLM),
                                      lambda shown, title, note: "tok/s" in note)
    assert shown
    assert title.startswith("engine (vLLM)")
    for label in ("client in flight", "running", "waiting", "KV %"):
        assert label in title
    assert "KV " in note and "TTFT" in note and "tok/s" in note


async def test_a_failing_endpoint_reads_no_engine_metrics_and_why() -> None:
    recording = read_recording(PLAIN)
    t, elapsed = recording.header.t + 1.0, 1.0
    recording.records[1:1] = [
        Event(t, elapsed, "engine", "engine_scraping", "engine metrics: scraping …"),
        Event(t, elapsed, "engine", "engine_scrape_failed", "engine metrics: …",
              {"kind": "unreachable", "error": "cannot connect (Connection refused)"}),
    ]
    shown, _, note = await _panel(recording, lambda shown, title, note: bool(note))
    assert shown
    assert note == "no engine metrics: cannot connect (Connection refused)"

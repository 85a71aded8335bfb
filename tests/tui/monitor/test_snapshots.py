"""The main screen from a recording, as a person sees it, at 160x48 and at 80x24.

The recording is a real sandbox run that scales out (fixtures/make_recording.py). The replay
is paused at the end on a frozen clock and every panel is drawn before the screenshot, so
the pictures depend on nothing but the recording. Review changes with the report that
``pytest --snapshot-update`` leaves, then commit the new .svg files.
"""

from __future__ import annotations

from typing import Any

from metrics.recording import read_recording
from tests.tui.helpers import FIXTURES
from tui.monitor.app import MonitorApp
from tui.monitor.screens import ReplayScreen

RECORDING = FIXTURES / "sandbox-scaling.jsonl"


def _app(start: float | None = None, window_presses: int = 0) -> MonitorApp:
    screen = ReplayScreen(read_recording(RECORDING), clock=lambda: 0.0, start=start,
                          paused=True)
    screen.window_index = window_presses
    return MonitorApp(screen)


async def _draw_everything(pilot: Any) -> None:
    await pilot.pause()
    screen = pilot.app.screen
    screen.refresh_figures()
    screen.refresh_charts()
    # The log follows its end as lines come, but on a cold, busy process the scroll asked for
    # with the first lines can land before the layout settles and leave the log at its top
    # (about 1 run in 8 with the CPU oversubscribed). The pictures are of the end.
    screen.event_log.scroll_end(animate=False, immediate=True)
    await pilot.pause()


def test_main_screen_large(snap_compare) -> None:
    assert snap_compare(_app(), terminal_size=(160, 48), run_before=_draw_everything)


def test_main_screen_80x24(snap_compare) -> None:
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_draw_everything)


def test_main_screen_mid_run_whole_window(snap_compare) -> None:
    assert snap_compare(_app(start=45.0, window_presses=2), terminal_size=(120, 40),
                        run_before=_draw_everything)

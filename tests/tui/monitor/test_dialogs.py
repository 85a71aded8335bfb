"""Every dialog over the monitor shows every choice with its keys, and how to close it, at 80x24
(issue 24: the quit dialog's row of buttons hid "Stay [n]" even at 160x45)."""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, Static

from tests.tui.helpers import replay_app
from tui.monitor.screens import ConfirmScreen, HelpScreen, MarkerScreen, QuitScreen
from tui.monitor.screens.quit import KEEP

# 80x24 only: the smallest terminal the monitor supports is where a dialog is tightest (the
# stacked choices are the same lines at 160x45; checked there by hand in tmux, issue 24).
SIZES = [(80, 24)]
# The longest scaling note the live screen writes (describe_change of a registered target).
SCALING_NOTE = (
    "was changed during this run; by default it is restored. restore: back to no scaling: the "
    "variant is not registered with Application Auto Scaling; now target tracking "
    "15000/instance/min, 1-2 instances, enabled")


def _shown_whole(widget: Widget, text: str) -> None:
    """``widget`` lies inside the screen and is wide enough for ``text``."""
    screen = widget.screen.region
    assert widget.region.height >= 1, f"{text!r} has no height"
    assert screen.contains_region(widget.region), f"{text!r} at {widget.region} is off {screen}"
    # Every line of the dialog's body shows in the dialog's (clipped) visible area.
    dialog = widget.screen.query_one(".dialog, #help-body")
    visible: Region = dialog.region
    assert visible.contains_region(widget.region), f"{text!r} is clipped by the dialog"
    assert widget.content_region.width >= len(text), f"{text!r} is cut"


QUIT_CHOICES = [
    (SCALING_NOTE, "restore", ["[y/enter/r] Restore scaling & quit",
                               "[i] Restore scaling, keep the instances & quit",
                               "[k] Keep scaling as it is & quit", "[n/esc] Stay"]),
    (SCALING_NOTE, KEEP, ["[y/enter/k] Keep scaling as it is & quit",
                          "[r] Restore scaling & quit",
                          "[i] Restore scaling, keep the instances & quit", "[n/esc] Stay"]),
    (None, "restore", ["[y/enter] Quit", "[n/esc] Stay"]),
]


@pytest.mark.parametrize("size", SIZES)
async def test_every_dialog_shows_its_choices_and_how_to_close_it(size):
    app = replay_app()  # one app per size, every dialog in turn: each app costs seconds to start
    async with app.run_test(size=size) as pilot:
        for note, default, expected in QUIT_CHOICES:
            app.push_screen(QuitScreen(True, note, default=default))
            await pilot.pause()
            buttons = list(app.screen.query(Button))
            assert [str(b.label) for b in buttons] == expected
            for button in buttons:
                _shown_whole(button, str(button.label))
            await pilot.press("n")
            assert not isinstance(app.screen, QuitScreen)

        app.push_screen(ConfirmScreen("Kill the test?", "All traffic stops at once; requests "
                                      "in flight are cancelled. The recording is finished and "
                                      "the monitor stays open.", yes="Kill"))
        await pilot.pause()
        labels = [str(b.label) for b in app.screen.query(Button)]
        assert labels == ["[y] Kill", "[n/esc] Cancel"]
        for button in app.screen.query(Button):
            _shown_whole(button, str(button.label))
        await pilot.press("escape")

        app.push_screen(HelpScreen(app.screen))
        await pilot.pause()
        title = app.screen.query_one("#help-title", Static)
        _shown_whole(title, "loadwatch keys   escape, q or ? closes this")
        await pilot.press("escape")

        app.push_screen(MarkerScreen("1:23"))
        await pilot.pause()
        hint = app.screen.query_one(".dialog-hint", Static)
        _shown_whole(hint, "enter adds the marker (empty is fine) · escape cancels")

"""Replay: the same screen fed by a recording, with player keys instead of load controls.

The replay producer (``driver.session.replay.Replay``) runs in the ``replay`` worker group and emits
the recorded records into the same consumer the live session uses; keys move its position
and speed. Nothing here can reach an endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from driver.session import Replay
from metrics.recording import Recording
from tui.monitor.screens.monitor import MonitorScreen
from tui.monitor.widgets import ReplayBar, Status


class ReplayScreen(MonitorScreen):
    """Plays a recording back at its recorded pace (or faster), with seek and speed keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space,p", "player('toggle_pause')", "Pause", id="replay-pause",
                tooltip="Pause or resume the replay (from the end: play again)"),
        Binding("left", "player('seek', -10)", "-10 s", id="seek-back", tooltip="Back 10 s"),
        Binding("right", "player('seek', 10)", "+10 s", id="seek-forward",
                tooltip="Forward 10 s"),
        Binding("pageup,shift+left", "player('seek', -60)", "-1 min", id="seek-back-large",
                tooltip="Back 1 min"),
        Binding("pagedown,shift+right", "player('seek', 60)", "+1 min",
                id="seek-forward-large", tooltip="Forward 1 min"),
        Binding("up,plus", "player('faster')", "Faster", id="faster",
                tooltip="Play faster (up to 128x)"),
        Binding("down,minus", "player('slower')", "Slower", id="slower",
                tooltip="Play slower (down to 0.25x)"),
        Binding("home", "player('to_start')", "Start", id="to-start",
                tooltip="Back to the beginning"),
        Binding("end", "player('to_end')", "End", id="to-end", tooltip="Jump to the end"),
    ]

    def __init__(self, recording: Recording, *, clock: Callable[[], float] = time.monotonic,
                 speed: float = 1.0, start: float | None = 0.0, paused: bool = False) -> None:
        """``start``: elapsed seconds to begin at (None: the end)."""
        super().__init__()
        self.recording = recording
        self.replay = Replay.from_recording(recording, self.on_record, self.reset_state,
                                            clock=clock, speed=speed, paused=paused)
        if start is None:
            self.replay.to_end()
        elif start:
            self.replay.seek_to(start)

    def compose_controls(self) -> ComposeResult:
        yield ReplayBar(id="replay-bar")

    def on_mount(self) -> None:
        super().on_mount()
        self.replay.advance()  # the state at the starting position, before the first frame
        self._charts_due = True
        for warning in self.recording.warnings:
            self.notify(warning, severity="warning", timeout=8)
        self.run_worker(self.replay.run(), name="replay", group="replay", exit_on_error=False)

    # --- what the base screen asks ---------------------------------------------------------

    def now(self) -> float:
        return self.replay.position

    def status(self) -> Status:
        replay = self.replay
        mode = "REPLAY" + (" PAUSED" if replay.paused else f" {replay.speed:g}x")
        path = Path(self.recording.path)
        return Status(mode, "reverse bold blue", self.now(), self.window[1],
                      self.scaling_text(), f"replaying {path.name}")

    def refresh_figures(self) -> None:
        super().refresh_figures()
        replay = self.replay
        self.query_one(ReplayBar).update_position(replay.position, replay.duration,
                                                  replay.speed, replay.paused, replay.finished)

    # --- keys ------------------------------------------------------------------------------

    def action_player(self, control: str, *args: float) -> None:
        """One of the replay's controls (``Replay`` method names), then redraw at once."""
        getattr(self.replay, control)(*args)
        self.replay.poke()
        self._charts_due = True
        self.refresh_figures()

    def action_request_quit(self) -> None:
        self.app.exit(0)

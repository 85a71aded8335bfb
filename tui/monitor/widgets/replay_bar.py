"""The replay's position, speed and progress through the recording, on one line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from metrics.timeline import clock


class ReplayBar(Static):
    """▶/⏸, speed, position / duration and a progress bar as wide as the line allows."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.can_focus = False
        self._shown: tuple[object, ...] | None = None

    def update_position(self, position: float, duration: float, speed: float, paused: bool,
                        finished: bool) -> None:
        state = "at end" if finished and position >= duration else "paused" if paused else "▶"
        shown = (int(position), int(duration), speed, state, self.content_size.width)
        if shown == self._shown:
            return
        self._shown = shown
        line = Text(" ")
        line.append(f" {state} ", style="reverse bold" if paused else "bold")
        line.append(f" {speed:g}x ", style="bold cyan")
        times = f" {clock(position)} / {clock(duration)} "
        line.append(times)
        room = max(0, self.content_size.width - line.cell_len - 1)
        done = round(room * position / duration) if duration else room
        line.append("━" * done, style="cyan")
        line.append("─" * (room - done), style="dim")
        self.update(line, layout=False)  # always one line

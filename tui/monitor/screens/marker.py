"""Adding a marker: a line of text that goes into the recording at this moment."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class MarkerScreen(ModalScreen[str | None]):
    """Enter adds the marker (empty text is fine), escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="marker-cancel"),
    ]

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Marker at {self.at}", classes="dialog-title")
            yield Input(placeholder="what happened here", id="marker-text")
            yield Static("enter adds the marker (empty is fine) · escape cancels",
                         classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)

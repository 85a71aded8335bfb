"""Quitting: stop the load if it still runs, and restore or keep the scaling configuration."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

QUIT = "quit"  # nothing to decide about scaling
RESTORE = "restore"
KEEP = "keep"
KEEP_INSTANCES = "keep-instances"  # restore the policies, leave the instance count


class QuitScreen(ModalScreen[str | None]):
    """Answers ``quit``, ``restore``, ``keep`` (the scaling) or ``keep-instances`` (restore the
    scaling, keep the instances the test added), or None to stay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer('default')", "Quit", id="quit-yes"),
        Binding("r", "answer('restore')", "Quit, restore scaling", id="quit-restore"),
        Binding("k", "answer('keep')", "Quit, keep scaling", id="quit-keep"),
        Binding("i", "answer('keep-instances')", "Quit, restore scaling, keep instances",
                id="quit-keep-instances"),
        Binding("n,escape", "answer(None)", "Stay", id="quit-stay"),
    ]

    def __init__(self, load_running: bool, scaling_note: str | None = None,
                 default: str = RESTORE) -> None:
        """``scaling_note``: why scaling is worth a decision (None: nothing to decide);
        ``default``: what y/enter does with it (``--keep-scaling`` makes that keep)."""
        super().__init__()
        self.load_running = load_running
        self.scaling_note = scaling_note
        self.default = default if scaling_note else QUIT

    def compose(self) -> ComposeResult:
        lines = []
        if self.load_running:
            lines.append("The test is still running: quitting stops all traffic now and "
                         "finishes the recording.")
        if self.scaling_note:
            lines.append(f"Scaling {self.scaling_note}")
        with Vertical(classes="dialog"):
            yield Static("Quit loadwatch?", classes="dialog-title")
            yield Static("\n".join(lines) or "The session is over.", classes="dialog-message")
            # One choice a line, its keys first: a row of four buttons was cut at 160 columns.
            with Vertical(classes="dialog-choices"):
                for answer, label, keys in self.choices():
                    yield Button(f"\\[{keys}] {label}", id=answer, compact=True,
                                 variant="primary" if answer == self.default else "default")

    def choices(self) -> list[tuple[str, str, str]]:
        """(answer, label, keys) for each button, the default first."""
        if not self.scaling_note:
            return [(QUIT, "Quit", "y/enter"), ("stay", "Stay", "n/esc")]
        scaling = [(RESTORE, "Restore scaling & quit", "r"),
                   (KEEP_INSTANCES, "Restore scaling, keep the instances & quit", "i"),
                   (KEEP, "Keep scaling as it is & quit", "k")]
        scaling.sort(key=lambda choice: choice[0] != self.default)
        answer, label, key = scaling[0]
        return [(answer, label, f"y/enter/{key}"), *scaling[1:], ("stay", "Stay", "n/esc")]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scaling_choice = action == "answer" and parameters in ((KEEP,), (RESTORE,),
                                                               (KEEP_INSTANCES,))
        return bool(self.scaling_note) or not scaling_choice

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(self.default if answer == "default" else answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)

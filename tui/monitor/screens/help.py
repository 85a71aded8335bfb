"""The ``?`` screen: every key of the screen underneath, its binding id, and how to remap."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.binding import ActiveBinding

REMAP_NOTE = (
    "Remap keys in ~/.config/loadwatch/keymap.yml (or the file named by LOADWATCH_KEYMAP): "
    "one line per binding id, e.g.  rate-up: \"up,k\"  — see docs/monitor.md."
)


def binding_rows(screen: Screen) -> list[tuple[str, str, str, str]]:
    """(keys, description, id, tooltip) for each binding of ``screen``, keys as remapped."""
    by_id: dict[str, tuple[list[str], Binding]] = {}
    active: dict[str, ActiveBinding] = screen.active_bindings
    for _node, binding, _enabled, _tooltip in active.values():
        if binding.system or binding.id is None:
            continue
        keys, _ = by_id.setdefault(binding.id, ([], binding))
        keys.append(screen.app.get_key_display(binding))
    return [(", ".join(keys), binding.description, binding_id, binding.tooltip)
            for binding_id, (keys, binding) in by_id.items()]


class HelpScreen(ModalScreen[None]):
    """A table of keys over the monitor; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help-close"),
    ]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id (for remapping)", style="dim", no_wrap=True)
        for keys, description, binding_id, tooltip in binding_rows(self.under):
            table.add_row(keys, tooltip or description, binding_id)
        notes = getattr(self.under, "help_notes", lambda: [])()
        with VerticalScroll(id="help-body"):
            yield Static(Text.assemble(("loadwatch keys", "bold"),
                                       ("   escape, q or ? closes this", "dim")), id="help-title")
            yield Static(table)
            for note in [*notes, REMAP_NOTE]:
                yield Static(Text(note, style="dim"), classes="help-note")

"""Messages that cross screens and widgets.

Records themselves are not messages: they go straight into the screen's ``Timeline`` as they
arrive and are rendered on timers, so a burst of records never queues up work for the UI.
"""

from __future__ import annotations

from textual.message import Message

from driver.session import SessionResult


class SessionFinished(Message):
    """The live session ended (schedule done, killed, or failed); ``result`` None if it failed
    before producing one."""

    def __init__(self, result: SessionResult | None) -> None:
        super().__init__()
        self.result = result

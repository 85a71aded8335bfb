"""The Textual monitor: the app that starts and ends it, its screens (live, replay, dialogs),
widgets and ``app.tcss``. May import ``tui.console``, ``driver`` and ``metrics``.
"""

from tui.monitor.app import load_keymap, monitor_session, replay_monitor, run_monitor

__all__ = [
    "load_keymap",
    "monitor_session",
    "replay_monitor",
    "run_monitor",
]

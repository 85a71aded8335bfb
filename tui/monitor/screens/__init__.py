"""The monitor's screens: the main one (live or replay) and the dialogs over it.
May import ``tui.monitor.widgets``, ``tui.monitor.messages``, ``driver`` and ``metrics``.
"""

from tui.monitor.screens.confirm import ConfirmScreen
from tui.monitor.screens.help import HelpScreen
from tui.monitor.screens.live import LiveRun, LiveScreen
from tui.monitor.screens.marker import MarkerScreen
from tui.monitor.screens.monitor import MonitorScreen
from tui.monitor.screens.quit import QuitScreen
from tui.monitor.screens.replay import ReplayScreen

__all__ = [
    "ConfirmScreen",
    "HelpScreen",
    "LiveRun",
    "LiveScreen",
    "MarkerScreen",
    "MonitorScreen",
    "QuitScreen",
    "ReplayScreen",
]

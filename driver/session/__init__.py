"""A session: setup and pre-flight (``setup``), the runner with its record bus and live
control (``runner``), its recording header and worker watch, and replay of a recording.
May import every ``driver`` package but ``capacity``, and ``metrics``.
"""

from driver.session.replay import Replay
from driver.session.runner import (
    EXIT_INTERRUPTED,
    EXIT_NOTHING_OK,
    EXIT_USAGE,
    Session,
    SessionResult,
)
from driver.session.setup import (
    PreparedRun,
    RunOptions,
    SetupError,
    check_recording_path,
    default_recording_path,
    prepare_run,
)

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NOTHING_OK",
    "EXIT_USAGE",
    "PreparedRun",
    "Replay",
    "RunOptions",
    "Session",
    "SessionResult",
    "SetupError",
    "check_recording_path",
    "default_recording_path",
    "prepare_run",
]

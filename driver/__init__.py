"""Load generation: profiles, schedules, workers, targets, live control and the session runner.

Imports ``metrics``; never ``tui`` or ``textual``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loadwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

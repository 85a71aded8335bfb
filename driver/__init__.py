"""Load generation: one subpackage per idea (schedule, profile, http, pool, load, aws, session,
capacity; docs/architecture.md draws the tree and its order). Imports ``metrics``; never ``tui``,
``sandbox`` or ``textual``. This module holds only the version.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loadwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

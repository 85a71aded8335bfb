"""A session on a plain terminal: starting it (the sandbox when no target is named,
pre-flight, stop signals) and printing it (headless status lines, the summary). No Textual.
May import ``driver``, ``metrics`` and ``sandbox``.
"""

from tui.console.launch import (
    PreflightStop,
    launch,
    launch_or_exit_code,
    launch_or_explain,
    signals_given_back,
    stop_signals,
)
from tui.console.printer import HeadlessPrinter, clock, llm_summary_lines, print_result

__all__ = [
    "HeadlessPrinter",
    "PreflightStop",
    "clock",
    "launch",
    "launch_or_exit_code",
    "launch_or_explain",
    "llm_summary_lines",
    "print_result",
    "signals_given_back",
    "stop_signals",
]

"""``loadwatch replay FILE``: the monitor on a recording, with player keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from driver.session import EXIT_USAGE


def _start(text: str) -> float | None:
    """Seconds, m:ss, or ``end``."""
    if text == "end":
        return None
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, m:ss or 'end', got {text!r}") \
            from None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def _speed(text: str) -> float:
    try:
        speed = float(text.rstrip("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a speed such as 4 or 0.5, got {text!r}") \
            from None
    if speed <= 0:
        raise argparse.ArgumentTypeError("the speed must be above 0")
    return speed


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="replay a recording in the monitor",
        description="Open a recording in the monitor and play it back at its recorded pace. "
                    "Space pauses, left/right seek, up/down change speed, home/end jump.")
    parser.add_argument("file", type=Path, help="a recording (.jsonl)")
    parser.add_argument("--speed", type=_speed, default=1.0, metavar="X",
                        help="playback speed (default 1: the recorded pace)")
    parser.add_argument("--start", type=_start, default=0.0, metavar="AT",
                        help="where to begin: seconds, m:ss, or 'end' (default 0)")
    parser.add_argument("--paused", action="store_true", help="open paused")
    parser.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    if not args.file.exists():
        print(f"loadwatch: {args.file}: no such file", file=sys.stderr)
        return EXIT_USAGE
    from tui.monitor import replay_monitor

    return replay_monitor(args.file, speed=args.speed, start=args.start, paused=args.paused)

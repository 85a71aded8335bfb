"""``loadwatch sandbox [...]``: the built-in SageMaker stand-in in the foreground.

A thin wrapper: every argument goes to ``sandbox.cli.main`` unchanged (``loadwatch sandbox
--help`` lists them), except ``--twin twin.yml``, which becomes the instance and timing
overrides that make the sandbox serve like the fitted twin (flags given after it win).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox", add_help=False, prefix_chars="\0",
        help="run the built-in SageMaker sandbox in the foreground (--help for its options)")
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.cli import main

    arguments = list(args.arguments)
    if "--twin" in arguments:
        at = arguments.index("--twin")
        if at + 1 >= len(arguments):
            print("loadwatch sandbox: --twin: missing the twin file", file=sys.stderr)
            return 2
        from twin.model import TwinError, load_twin

        try:
            twin = load_twin(arguments[at + 1])
        except TwinError as exc:
            print(f"loadwatch sandbox: {exc}", file=sys.stderr)
            return 2
        arguments[at:at + 2] = twin_flags(twin)
        if twin.live_caveat:
            print(f"loadwatch sandbox: note: {twin.live_caveat}", file=sys.stderr)
    return main(arguments)


def twin_flags(twin: Any) -> list[str]:
    """The sandbox's overrides that make its instances and clock the twin's."""
    config = twin.sandbox_config()
    profile, timings = config.profile, config.timings
    return ["--workers", str(profile.workers), "--service-time-ms", f"{profile.service_time_ms}",
            "--jitter-ms", f"{profile.jitter_ms}", "--queue-bound", str(profile.queue_bound),
            "--period", str(int(timings.period_s)),
            "--publication-delay", f"{timings.publication_delay_s}",
            "--provisioning-delay", f"{timings.provisioning_delay_s}",
            "--deprovisioning-delay", f"{timings.deprovisioning_delay_s}"]

"""``loadwatch sandbox [...]``: the built-in SageMaker stand-in in the foreground.

A thin wrapper: every argument goes to ``sandbox.cli.main`` unchanged (``loadwatch sandbox
--help`` lists them).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox", add_help=False, prefix_chars="\0",
        help="run the built-in SageMaker sandbox in the foreground (--help for its options)")
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.cli import main

    return main(args.arguments)

"""The ``loadwatch`` command line: the parser, and each command's ``register`` from its module.

Exit codes: ``tui.commands.exit_codes``, printed at the end of ``loadwatch --help`` and
``loadwatch run --help``.
"""

from __future__ import annotations

import argparse
import sys

import driver
from driver.session import EXIT_INTERRUPTED, EXIT_USAGE
from tui.commands import (
    capacity,
    compare,
    export,
    replay,
    report,
    run,
    sandbox,
    scaling,
    twin,
    validate,
    whatif,
)
from tui.commands.exit_codes import EXIT_CODES
from tui.console import signals_given_back

# Each command's module has ``register(subparsers)``, which adds its parser with
# ``set_defaults(handler=...)``; handlers take the parsed args and return the exit code.
# Modules keep heavy imports (textual, boto3) inside their handlers so that
# ``loadwatch --help`` stays fast.
COMMANDS = (run, validate, replay, compare, report, export, sandbox, scaling, capacity, twin,
            whatif)

TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")


class IntermixedParser(argparse.ArgumentParser):
    """A parser whose options and positionals come in any order, in every command.

    argparse matches positionals greedily, so ``scaling disable --mode delete my.yml`` left
    ``my.yml`` unrecognised; ``parse_intermixed_args`` does not, but refuses parsers with
    subcommands or ``REMAINDER``. This class uses it wherever it can: every command's parser
    (they are built from this class by ``add_subparsers``) parses intermixed; the top level
    and the pass-through ``sandbox`` command parse as usual.
    """

    _mixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        plain = self._mixing or self._subparsers is not None or any(
            action.nargs in (argparse.REMAINDER, argparse.PARSER) for action in self._actions)
        if plain:
            return super().parse_known_args(args, namespace)
        self._mixing = True  # parse_known_intermixed_args calls parse_known_args itself
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._mixing = False


def build_parser() -> argparse.ArgumentParser:
    parser = IntermixedParser(
        prog="loadwatch",
        description="Load-test autoscaling inference endpoints and watch them respond, live. "
                    "With no command: the monitor on the built-in sandbox demo.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"loadwatch {driver.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


# Commands that only read recordings: whatever a damaged file holds, one line and exit 2.
RECORDING_READERS = ("replay", "report", "compare", "export")


def _read_safely(args: argparse.Namespace) -> int:
    """The reader's validation skips lines of the wrong shape; this is the net under it: a
    value it cannot see into (deep in a footer's summary, say) costs the command, not a
    traceback."""
    try:
        return args.handler(args)
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        print(f"loadwatch {args.command}: a recording holds a value of an unexpected shape "
              f"({type(exc).__name__}{': ' + detail if detail else ''}); it may be damaged "
              "or from another tool", file=sys.stderr)
        return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """The command; ``argv`` None: this process is ``loadwatch`` and ends with this code, so a
    run's after-the-run signal handling stays until exit. Given ``argv`` (a test, a script
    calling in), the signals are given back as they were."""
    if argv is None:
        return _main(sys.argv[1:])
    with signals_given_back():
        return _main(list(argv))


def _main(argv: list[str]) -> int:
    parser = build_parser()
    commands = next(a for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    if not argv or (argv[0] not in commands and argv[0] not in TOP_LEVEL_OPTIONS):
        # No command: `loadwatch`, `loadwatch --headless`, `loadwatch my.yml` mean `run`.
        argv = ["run", *argv]
    args = parser.parse_args(argv)
    try:
        if args.command in RECORDING_READERS:
            return _read_safely(args)
        return args.handler(args)
    except BrokenPipeError:  # `loadwatch validate x.yml | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # Ctrl-C outside a run's own handling (imports, the last exit)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

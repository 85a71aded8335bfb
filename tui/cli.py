"""The ``loadwatch`` command line.

Exit codes: 0 success (ensure holds), 1 ensure failed, 2 usage, profile or setup error,
130 interrupted (Ctrl-C, SIGTERM, or SIGHUP when the terminal closes; the load is stopped,
scaling restored and the recording finished first), 3 incomplete (a lost worker's share could
not be taken over).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

import driver
from driver.limits import rate_warnings
from driver.profile import Profile, ProfileError, describe_plan, load_profile
from driver.profile_options import describe_llm
from driver.runner import EXIT_INTERRUPTED, EXIT_USAGE, SessionResult
from driver.setup import (
    PreparedRun,
    RunOptions,
    SetupError,
    check_recording_path,
    default_recording_path,
)
from tui.headless import HeadlessPrinter, clock, print_result
from tui.launch import PreflightStop, launch_or_exit_code, stop_signals

# Commands that live in their own module: each has ``register(subparsers)``, which adds its
# parser with ``set_defaults(handler=...)``; handlers take the parsed args and return the exit
# code. Modules keep heavy imports (textual, boto3) inside their handlers so that
# ``loadwatch --help`` stays fast.
COMMAND_MODULES = (
    "tui.replay_cmd",
    "tui.compare_cmd",
    "tui.report_cmd",
    "tui.export_cmd",
    "tui.sandbox_cmd",
    "tui.scaling_cmd",
    "tui.capacity_cmd",
)


TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")


def demo_profile_path() -> Path:
    """profiles/sandbox-demo.yml, wherever loadwatch is installed."""
    # Beside the packages, in a checkout and in site-packages alike. Not importlib.resources:
    # `profiles` is a namespace package, and under an editable install its path holds the
    # finder's hook, which resources.files() rejects (NotADirectoryError).
    return Path(__file__).resolve().parent.parent / "profiles" / "sandbox-demo.yml"


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true",
                        help="no UI: print a status line every few seconds, then a summary")
    parser.add_argument("--record", metavar="FILE", type=Path,
                        help="record to FILE (default: recordings/<time>-<profile>.jsonl)")
    parser.add_argument("--no-record", action="store_true", help="do not record the session")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="load worker processes; the rate is split between them")
    parser.add_argument("--target", metavar="URL", help="HTTP target, overriding config.target")
    parser.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                        help="run the workers on a Ray cluster (default address: auto); "
                             "--workers N spreads N workers over its nodes (needs the ray extra)")
    parser.add_argument("--ray-strategy", default="SPREAD",
                        choices=("SPREAD", "STRICT_SPREAD", "PACK"),
                        help="Ray placement of the workers (STRICT_SPREAD: one per node)")
    parser.add_argument("--ray-avoid-head", action="store_true",
                        help="keep the workers off the Ray head node")
    parser.add_argument("--interval", type=int, default=5, metavar="SECONDS",
                        help="headless: seconds between status lines (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random arrivals and rows")
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--profile", dest="aws_profile", metavar="NAME", help="AWS profile")
    aws.add_argument("--region", help="AWS region")
    aws.add_argument("--endpoint-url", metavar="URL",
                     help="AWS endpoint URL (also AWS_ENDPOINT_URL)")
    aws.add_argument("--sandbox", action="store_true",
                     help="run against the built-in sandbox whatever the profile targets")
    aws.add_argument("--realistic", action="store_true",
                     help="sandbox with AWS's timings (60 s metric periods, slow provisioning)")
    aws.add_argument("--sandbox-instance", metavar="TYPE",
                     help="sandbox instance profile: ml.m4.xlarge (default, ~420 req/s), "
                          "ml.m5.large, ml.c5.xlarge, ml.c5.2xlarge, or small (~50 req/s)")
    aws.add_argument("--sandbox-instances", type=int, default=1, metavar="N",
                     help="instances the sandbox endpoint starts with (default 1)")
    aws.add_argument("--sandbox-period", type=float, metavar="SECONDS",
                     help="sandbox metric period (default 10; 60 with --realistic)")
    aws.add_argument("--keep-scaling", action="store_true",
                     help="leave scaling changes in place at exit instead of restoring")
    aws.add_argument("--keep-instances", action="store_true",
                     help="restore scaling at exit but leave the instance count as the test "
                          "left it (the exit line says what they cost per hour)")


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
    )
    parser.add_argument("--version", action="version", version=f"loadwatch {driver.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run a profile (monitor, or --headless)")
    run.add_argument("profile", type=Path, nargs="?", help="YAML profile (default: sandbox demo)")
    add_run_options(run)

    run.set_defaults(handler=cmd_run)

    validate = commands.add_parser("validate", help="check a profile and print its plan")
    validate.add_argument("profile", type=Path)
    validate.add_argument("--target", metavar="URL", help="HTTP target, overriding config.target")
    validate.set_defaults(handler=cmd_validate)

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(commands)
    return parser


def load_profile_arg(path: Path, target: str | None = None) -> Profile:
    return load_profile(path, target_override=target)


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        profile = load_profile_arg(args.profile, args.target)
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.profile}: valid")
    for warning in rate_warnings(profile.phases, profile.load.workers):
        print(warning)
    if profile.target_problem is not None:
        print(f"warning: {profile.target_problem} — `run` will refuse until it is set")
    if profile.target is not None and profile.target_problem is None:
        print(f"target: {profile.target}")
    elif profile.sagemaker and profile.sagemaker.endpoint:
        print(f"target: SageMaker endpoint {profile.sagemaker.endpoint} "
              f"(variant {profile.sagemaker.variant})")
    elif profile.uses_sandbox:
        print("target: the built-in sandbox")
    print(f"{'#':>2}  {'phase':<20} {'start':>8} {'duration':>9} {'rate req/s':>16} "
          f"{'requests':>10}")
    for i, row in enumerate(describe_plan(profile), start=1):
        rate = "pause" if row["pause"] else (
            f"{row['rate_start']:g}" if row["rate_start"] == row["rate_end"]
            else f"{row['rate_start']:g} → {row['rate_end']:g}")
        print(f"{i:>2}  {row['name'][:20]:<20} {clock(row['start']):>8} "
              f"{clock(row['duration']):>9} {rate:>16} {round(row['requests']):>10}")
    print(f"total: {clock(profile.duration)} ({profile.duration:g} s), "
          f"{round(profile.requests)} requests, {len(profile.scenarios)} scenario(s)")
    for line in describe_llm(profile.llm, profile.load, sagemaker=profile.target is None):
        print(line)
    if profile.ensure:
        print("ensure: " + ", ".join(f"{k} {v:g}" for k, v in profile.ensure.items()))
    return 0


def wants_headless(args: argparse.Namespace) -> bool:
    """--headless, or no terminal to draw the monitor on (CI, a pipe, a cron job)."""
    if args.headless:
        return True
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("loadwatch: no terminal here, so no monitor: running headless", file=sys.stderr)
        return True
    return False


def run_options(args: argparse.Namespace, profile: Profile) -> RunOptions:
    record = None
    if not args.no_record:
        record = args.record or default_recording_path(profile)
    return RunOptions(
        workers=args.workers, record=record, seed=args.seed, aws_profile=args.aws_profile,
        region=args.region, endpoint_url=args.endpoint_url, sandbox=args.sandbox,
        realistic=args.realistic, keep_scaling=args.keep_scaling,
        keep_instances=args.keep_instances,
        sandbox_instance=args.sandbox_instance, sandbox_instances=args.sandbox_instances,
        sandbox_period=args.sandbox_period, pool=ray_pool(args),
    )


def ray_pool(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """--ray: a connected RayPool; RayUnavailable (one line) before any load if it cannot be."""
    if getattr(args, "ray", None) is None:
        return None
    from driver.pool_ray import RayPool

    pool = RayPool(args.ray, strategy=args.ray_strategy, avoid_head=args.ray_avoid_head)
    pool.connect()
    return pool


async def run_headless(prepared: PreparedRun, interval: int = 5) -> SessionResult:
    """Run a prepared session with status lines; SIGINT, SIGTERM or SIGHUP stops load,
    restores scaling and finishes the recording."""
    session = prepared.session
    session.subscribe(HeadlessPrinter(interval=interval))
    task = asyncio.ensure_future(session.run())

    def interrupt(_name: str) -> None:
        if session.started:
            session.kill("interrupted")
        else:
            task.cancel()

    with stop_signals(interrupt):
        return await task


def cmd_run(args: argparse.Namespace) -> int:
    path = args.profile or demo_profile_path()
    try:
        profile = load_profile_arg(path, args.target)
        options = run_options(args, profile)
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:  # RayUnavailable: no ray extra, or no cluster there
        print(f"loadwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if options.record is not None:
        try:
            check_recording_path(options.record, profile)
        except SetupError as exc:
            print(f"loadwatch: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.workers is not None and args.workers < 1:
        print("loadwatch: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not wants_headless(args):
        from tui.app import run_monitor

        return run_monitor(profile, options)
    return run_async(_headless_main(profile, options, args.interval))


async def _headless_main(profile: Profile, options: RunOptions, interval: int) -> int:
    # Before load starts a stop signal cancels the pre-flight (nothing sent, nothing changed);
    # once the session has ended it changes nothing: the summary prints, the exit code stands.
    preflight = PreflightStop()
    with stop_signals(preflight):
        prepared = await launch_or_exit_code(profile, options, preflight)
        if isinstance(prepared, int):
            return prepared
        try:
            for note in prepared.notes:
                print(note, flush=True)
            result = await run_headless(prepared, interval)
        except asyncio.CancelledError:
            print("loadwatch: interrupted while the workers started: no load was sent",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            await prepared.close()
        print_result(result, "interrupted: load stopped, recording finished",
                     profile.sanitized)
        return result.exit_code


def run_async(coro) -> int:  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:
        uvloop = None
    try:
        return uvloop.run(coro) if uvloop else asyncio.run(coro)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


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
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
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

"""``loadwatch run``: a profile's session in the monitor, or headless with status lines.

Its options (``add_run_options``, ``run_options``) are shared with ``find-capacity``, which runs
sessions the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from driver.aws.prices import PriceError, parse_price
from driver.profile import Profile, ProfileError, load_profile
from driver.session import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PreparedRun,
    RunOptions,
    SessionResult,
    SetupError,
    check_recording_path,
    default_recording_path,
)
from tui.commands.exit_codes import EXIT_CODES
from tui.console import (
    HeadlessPrinter,
    PreflightStop,
    launch_or_exit_code,
    print_result,
    stop_signals,
)


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run a profile (monitor, or --headless)",
                              epilog=EXIT_CODES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("profile", type=Path, nargs="?", help="YAML profile (default: sandbox demo)")
    add_run_options(run)
    run.set_defaults(handler=main)


def demo_profile_path() -> Path:
    """profiles/sandbox-demo.yml, wherever loadwatch is installed."""
    # Beside the packages, in a checkout and in site-packages alike. Not importlib.resources:
    # `profiles` is a namespace package, and under an editable install its path holds the
    # finder's hook, which resources.files() rejects (NotADirectoryError).
    return Path(__file__).resolve().parents[2] / "profiles" / "sandbox-demo.yml"


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
    parser.add_argument("--price", metavar="USD|TYPE=USD,...",
                        help="USD per instance-hour, for every type or per instance type "
                             "(default: the AWS Price List API where credentials allow, else "
                             "loadwatch's table); with a plain HTTP target: its server's price")
    parser.add_argument("--prometheus", metavar="ADDR:PORT",
                        help="serve the live figures for Prometheus at ADDR:PORT/metrics while "
                             "loadwatch runs (docs/export.md)")
    parser.add_argument("--otlp", metavar="URL",
                        help="push the live figures to an OTLP/HTTP receiver, e.g. "
                             "http://127.0.0.1:4318/v1/metrics")
    parser.add_argument("--summary-json", metavar="FILE", type=Path,
                        help="write a summary for machines to FILE at the end (docs/export.md)")
    parser.add_argument("--engine-metrics", metavar="URL",
                        help="scrape the serving engine's Prometheus endpoint (vLLM, TGI, "
                             "SGLang, Triton) every few seconds; over the profile's engine.url")
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--profile", dest="aws_profile", metavar="NAME", help="AWS profile")
    aws.add_argument("--region", help="AWS region")
    aws.add_argument("--endpoint-url", metavar="URL",
                     help="AWS endpoint URL (also AWS_ENDPOINT_URL)")
    aws.add_argument("--inference-component", metavar="NAME",
                     help="send every request to this inference component (the "
                          "X-Amzn-SageMaker-Inference-Component header); scaling acts on it "
                          "(overrides sagemaker.inferenceComponent)")
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


def load_profile_arg(path: Path, target: str | None = None) -> Profile:
    return load_profile(path, target_override=target)


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
        inference_component=getattr(args, "inference_component", None),
        sandbox_instance=args.sandbox_instance, sandbox_instances=args.sandbox_instances,
        sandbox_period=args.sandbox_period, pool=ray_pool(args),
        price=None if args.price is None else parse_price(args.price),
        engine_url=getattr(args, "engine_metrics", None),
    )


def attach_exports(args: argparse.Namespace, options: RunOptions, command: str,
                   at_footer: bool = True) -> str | None:
    """The exports the options ask for, attached to the session when it is built; why not
    (one line, before any load) if one cannot be."""
    from driver.export import SummaryWriter, check_summary_path

    if args.summary_json is not None:
        if (problem := check_summary_path(args.summary_json)) is not None:
            return problem
        writer = SummaryWriter(args.summary_json, command, recording=options.record,
                               at_footer=at_footer)
        args.summary_writer = writer
        options.attach.append(lambda session: session.subscribe(writer))
    if args.prometheus is not None or args.otlp is not None:
        from driver.export import ExportError, LiveFigures

        figures = LiveFigures()
        try:
            if args.prometheus is not None:
                from driver.export.prometheus import serve

                serve(args.prometheus, figures)  # before any load: a taken port says so now
            if args.otlp is not None:
                from driver.export.otlp import OtlpPush

                push = OtlpPush(args.otlp, figures)
                options.attach.append(lambda session: session.subscribe(push))
        except ExportError as exc:
            return str(exc)
        options.attach.append(lambda session: session.subscribe(figures))
    return None


def ray_pool(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """--ray: a connected RayPool; RayUnavailable (one line) before any load if it cannot be."""
    if getattr(args, "ray", None) is None:
        return None
    from driver.pool import RayPool

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


def main(args: argparse.Namespace) -> int:
    path = args.profile or demo_profile_path()
    try:
        profile = load_profile_arg(path, args.target)
        options = run_options(args, profile)
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except (RuntimeError, PriceError) as exc:  # RayUnavailable: no ray extra, or no cluster
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
    if (problem := attach_exports(args, options, "run")) is not None:
        print(f"loadwatch: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not wants_headless(args):
        from tui.monitor import run_monitor

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
                     profile.sanitized, prepared.session.scaling_outcome)
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

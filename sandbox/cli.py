"""``python -m sandbox`` (later ``loadwatch sandbox``): run a sandbox in the foreground.

It prints the environment that points AWS SDKs and loadwatch at it and runs until Ctrl-C or
SIGTERM. ``SandboxProcess`` starts this same command as a child with ``--ready-json`` (one
JSON line on stdout once the port is open, then nothing more there), ``--exit-with-stdin``
(stop when the parent's end of stdin closes) and ``--parent-pid`` (stop when that process is
gone; on Linux also PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from sandbox.config import (
    DEFAULT_ENDPOINT_NAME,
    DEFAULT_REGION,
    DEFAULT_VARIANT,
    FAST,
    INSTANCE_PROFILES,
    REALISTIC,
    ROUTINGS,
    SandboxConfig,
    Timings,
    config_from_json,
    profile_named,
    with_component,
)

DEFAULT_PORT = 8765
LLM_INSTANCE = "ml.g5.2xlarge"
# Inference components: four GPUs, so copies share an instance and managed scaling adds more.
COMPONENT_INSTANCE = "ml.g5.12xlarge"
_PARENT_POLL_S = 1.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sandbox",
        description="A local stand-in for an Amazon SageMaker real-time endpoint: the runtime, "
                    "SageMaker, Application Auto Scaling and CloudWatch APIs on one port.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on; 0 picks a free one (default {DEFAULT_PORT})")
    parser.add_argument("--realistic", action="store_true",
                        help="AWS's timings: 60 s periods, 60 s publication delay, 300 s to "
                             "provision an instance (default: 10 s / 5 s / 30 s)")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT_NAME, help="endpoint name")
    parser.add_argument("--variant", default=DEFAULT_VARIANT, help="variant name")
    parser.add_argument("--instance-type", default="ml.m4.xlarge",
                        choices=sorted(INSTANCE_PROFILES), help="instance profile")
    parser.add_argument("--llm", action="store_true",
                        help=f"serve a language model: same as --instance-type {LLM_INSTANCE} "
                             "(streaming routes, ConcurrentRequestsPerModel)")
    parser.add_argument("--instances", type=int, default=1, help="initial instance count")
    group = parser.add_argument_group("instance profile overrides")
    group.add_argument("--workers", type=int, help="concurrent requests per instance")
    group.add_argument("--service-time-ms", type=float, help="mean service time")
    group.add_argument("--jitter-ms", type=float, help="standard deviation of service time")
    group.add_argument("--queue-bound", type=int, help="requests that may wait per instance")
    group.add_argument("--container-timeout", type=float,
                       help="seconds before an unanswered request fails with ModelError")
    group = parser.add_argument_group("timing overrides")
    group.add_argument("--period", type=int, help="metric period in seconds")
    group.add_argument("--publication-delay", type=float,
                       help="seconds after a period ends until its datapoints are visible")
    group.add_argument("--provisioning-delay", type=float,
                       help="seconds before a new instance serves")
    group.add_argument("--deprovisioning-delay", type=float,
                       help="seconds before a removed instance leaves")
    group.add_argument("--idle-instance-release", type=float,
                       help="seconds an instance without inference-component copies stays "
                            "before managed scaling releases it (default 60, AWS about 600)")
    group.add_argument("--default-cooldown", type=float,
                       help="cooldown of a scaling policy that names none")
    group = parser.add_argument_group(
        "inference components", "host one component instead of a model: the variant has no "
        "ModelName, requests must name the component (X-Amzn-SageMaker-Inference-Component), "
        "and managed instance scaling adds and removes instances as copies need them")
    group.add_argument("--inference-component", metavar="NAME",
                       help="the component's name (turns the other options here on)")
    group.add_argument("--copies", type=int, default=1,
                       help="initial DesiredCopyCount; 0 starts it scaled to zero (default 1)")
    group.add_argument("--model-load-time", type=float,
                       help="seconds a new copy loads before it serves (default 5, or 60 with "
                            "--realistic)")
    group.add_argument("--min-instances", type=int, default=0,
                       help="ManagedInstanceScaling.MinInstanceCount (default 0)")
    group.add_argument("--max-instances", type=int, default=4,
                       help="ManagedInstanceScaling.MaxInstanceCount (default 4)")
    group.add_argument("--copy-cores", type=float, help="NumberOfCpuCoresRequired (default 1)")
    group.add_argument("--copy-memory-mb", type=int, help="MinMemoryRequiredInMb")
    group.add_argument("--copy-gpus", type=int,
                       help="NumberOfAcceleratorDevicesRequired (default 1 on a GPU instance)")
    parser.add_argument("--routing", choices=ROUTINGS, default=ROUTINGS[0])
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--seed", type=int, help="seed for service times and routing")
    parser.add_argument("--internal-failure-rate", type=float, default=0.0,
                        help="fraction of invocations answered with InternalFailure (500)")
    parser.add_argument("--throttle-rps", type=float,
                        help="throttle invocations above this rate (ThrottlingException)")
    parser.add_argument("--stream-error-rate", type=float, default=0.0,
                        help="fraction of an LLM instance's streams cut part-way")
    parser.add_argument("--log-level", default="WARNING")
    embedded = parser.add_argument_group("embedding (used by SandboxProcess)")
    embedded.add_argument("--config-json", help="the whole configuration as JSON (see "
                          "sandbox.config.config_to_json); other configuration flags are ignored")
    embedded.add_argument("--ready-json", action="store_true",
                          help="print one JSON line once listening, and nothing else on stdout")
    embedded.add_argument("--exit-with-stdin", action="store_true",
                          help="stop when stdin reaches end of file")
    embedded.add_argument("--parent-pid", type=int, help="stop when this process is gone")
    embedded.add_argument("--pdeathsig", action="store_true",
                          help="Linux: ask the kernel for SIGTERM when the parent thread dies")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    profile = profile_named(LLM_INSTANCE if args.llm else args.instance_type)
    overrides = {name: value for name, value in (
        ("workers", args.workers), ("service_time_ms", args.service_time_ms),
        ("jitter_ms", args.jitter_ms), ("queue_bound", args.queue_bound),
        ("container_timeout_s", args.container_timeout)) if value is not None}
    timings = REALISTIC if args.realistic else FAST
    timing_overrides = {name: value for name, value in (
        ("period_s", args.period), ("publication_delay_s", args.publication_delay),
        ("provisioning_delay_s", args.provisioning_delay),
        ("deprovisioning_delay_s", args.deprovisioning_delay),
        ("default_cooldown_s", args.default_cooldown),
        ("idle_instance_release_s", args.idle_instance_release)) if value is not None}
    config = SandboxConfig(
        endpoint_name=args.endpoint, variant=args.variant,
        profile=profile.replace(**overrides),
        initial_instances=args.instances,
        timings=Timings(**{**_timings_dict(timings), **timing_overrides}),
        routing=args.routing, region=args.region, seed=args.seed,
        internal_failure_rate=args.internal_failure_rate, throttle_rps=args.throttle_rps,
        stream_error_rate=args.stream_error_rate)
    if args.inference_component is None:
        return config
    if args.copies < 0 or args.min_instances < 0 or args.max_instances < max(
            1, args.min_instances):
        raise ValueError("--copies and --min-instances must be 0 or more, --max-instances at "
                         "least 1 and at least --min-instances")
    load_s = args.model_load_time if args.model_load_time is not None else (
        60.0 if args.realistic else 5.0)
    return with_component(config, args.inference_component, copies=args.copies,
                          max_instances=args.max_instances, min_instances=args.min_instances,
                          load_s=load_s, cores=args.copy_cores, memory_mb=args.copy_memory_mb,
                          accelerators=args.copy_gpus)


def _timings_dict(timings: Timings) -> dict[str, float]:
    return {name: getattr(timings, name) for name in Timings.__slots__}


def banner(url: str, config: SandboxConfig, env: dict[str, str]) -> str:
    profile = config.profile
    timings = config.timings
    if profile.llm is not None:
        serving = (f"{profile.llm.model} with continuous batching, up to "
                   f"{profile.llm.kv_cache_tokens} tokens of KV cache; streams at "
                   f"/endpoints/{config.endpoint_name}/invocations-response-stream and "
                   "/v1/chat/completions")
    else:
        serving = (f"{profile.workers} workers, {profile.service_time_ms:g} ms, about "
                   f"{profile.capacity_rps:.0f} RPS each")
    lines = [
        "loadwatch sandbox: a local stand-in for an Amazon SageMaker endpoint",
        f"  endpoint {config.endpoint_name}, variant {config.variant}: "
        f"{config.initial_instances} x {profile.instance_type} ({serving}), no scaling policy",
    ]
    managed = config.managed_scaling
    for component in config.components:
        needs = f"{component.cores:g} cores, {component.memory_mb} MB" + (
            f", {component.accelerators} GPU" if component.accelerators else "")
        lines.append(
            f"  inference component {component.name}: {component.copies} copies ({needs} "
            f"each), {component.load_s:g} s to load a copy; send header "
            "X-Amzn-SageMaker-Inference-Component")
    if managed is not None:
        lines.append(f"  managed instance scaling: {managed.min_instances} to "
                     f"{managed.max_instances} instances")
    lines += [
        f"  metrics every {timings.period_s:g} s (ConcurrentRequestsPerModel every "
        f"{timings.concurrency_period_s:g} s), visible {timings.publication_delay_s:g} s "
        f"after a period ends; new instances serve after {timings.provisioning_delay_s:g} s",
        f"  listening on {url} (fixed sandbox credentials, not secrets)",
        "",
        "Point loadwatch or any AWS SDK at it:",
    ]
    lines += [f"export {name}={value}" for name, value in env.items()]
    lines += ["", "Ctrl-C stops it."]
    return "\n".join(lines)


def _set_pdeathsig() -> None:
    """Linux only: SIGTERM when the thread that started us exits (see SandboxProcess)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


async def _serve(config: SandboxConfig, args: argparse.Namespace) -> int:
    from sandbox.server import start_sandbox

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if args.exit_with_stdin:
        def on_stdin() -> None:
            try:
                data = os.read(sys.stdin.fileno(), 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(sys.stdin.fileno())
                stop.set()
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    watcher = None
    if args.parent_pid:
        async def watch_parent() -> None:
            while os.getppid() == args.parent_pid:
                await asyncio.sleep(_PARENT_POLL_S)
            stop.set()
        watcher = asyncio.create_task(watch_parent())

    try:
        server = await start_sandbox(config, host=args.host, port=args.port)
    except OSError as error:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    try:
        env = server.env()
        if args.ready_json:
            sys.stdout.write(json.dumps({"ready": True, "url": server.url, "port": server.port,
                                         "pid": os.getpid(), "env": env}) + "\n")
            sys.stdout.flush()
            # Nothing else may go to the parent's pipe: nobody reads it, and a full pipe blocks.
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        else:
            print(banner(server.url, config, env), flush=True)
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await server.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a sandbox in the foreground until Ctrl-C, SIGTERM or (if asked) stdin's end."""
    args = build_parser().parse_args(argv)
    if args.pdeathsig:
        _set_pdeathsig()
    if args.parent_pid and os.getppid() != args.parent_pid:
        return 0  # the parent died before we could watch it
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = config_from_json(args.config_json) if args.config_json \
            else config_from_args(args)
    except (ValueError, TypeError, KeyError) as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_serve(config, args))
    with contextlib.suppress(KeyboardInterrupt):
        return uvloop.run(_serve(config, args))
    return 130

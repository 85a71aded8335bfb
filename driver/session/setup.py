"""From a profile and command-line options to a ready ``Session``: the one place both the
headless mode and the monitor build a run.

It resolves the target (HTTP URL, SageMaker endpoint, or the built-in sandbox), runs the
pre-flight checks that must pass before any load is sent, and attaches the producers and
clean-ups a target needs. Everything it starts is stopped by ``PreparedRun.close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driver.profile import EngineOptions, Profile
from driver.session.runner import Session

if TYPE_CHECKING:  # boto3 is imported only when a run needs AWS: `loadwatch --help` stays fast
    from driver.aws import AwsClients, FrozenCredentials, ScalingControl


# The pollers' last look at the endpoint after the load stops must not hold up the exit long.
LAST_POLL_TIMEOUT_S = 5.0


class SetupError(Exception):
    """A run that cannot start; the message is one line naming the cause (and AWS code)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code = code
        super().__init__(f"{message} ({code})" if code else message)


@dataclass
class RunOptions:
    workers: int | None = None
    record: Path | None = None
    seed: int = 0
    aws_profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    sandbox: bool = False  # force the sandbox even if the profile names a target
    realistic: bool = False  # sandbox with AWS's timings
    sandbox_instance: str | None = None  # sandbox instance profile (ml.m4.xlarge, small, ...)
    sandbox_instances: int = 1  # instances the sandbox endpoint starts with
    sandbox_period: float | None = None  # sandbox metric period in seconds
    keep_scaling: bool = False  # leave scaling changes in place at exit
    keep_instances: bool = False  # restore scaling but leave the instance count as it is
    # Set by tui.console.launch when it started the sandbox (or by tests): what to aim at and
    # as whom.
    endpoint: str | None = None  # overrides sagemaker.endpoint
    variant: str | None = None  # overrides sagemaker.variant
    inference_component: str | None = None  # overrides sagemaker.inferenceComponent
    aws_credentials: FrozenCredentials | None = field(default=None, repr=False)
    metrics_period: int | None = None  # default CloudWatch period when the profile names none
    aws_clients: AwsClients | None = None  # injected clients win over everything above
    pool: Any = None  # a driver.pool.WorkerPool (a RayPool for --ray); local processes if None
    engine_url: str | None = None  # --engine-metrics: over the profile's engine.url
    # Called with the session once it is built, before any load: exporters subscribe here.
    attach: list[Callable[[Session], None]] = field(default_factory=list)
    # --price, parsed: instance type (or "*" for any) -> USD per hour; wins over every source
    price: dict[str, float] | None = None


@dataclass
class PreparedRun:
    session: Session
    target_label: str
    notes: list[str] = field(default_factory=list)  # lines to show before load starts
    scaling: ScalingControl | None = None  # SageMaker targets: enable/disable/restore scaling
    endpoint: str | None = None  # SageMaker targets: the endpoint and variant under load
    variant: str | None = None
    _closers: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop whatever the run started (a sandbox, say); safe to call twice."""
        while self._closers:
            closer = self._closers.pop()
            with contextlib.suppress(Exception):
                result = closer()
                if result is not None:
                    await result


def default_recording_path(profile: Profile, directory: str | Path = "recordings") -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = profile.path.stem if profile.path else "session"
    return Path(directory) / f"{stamp}-{name}.jsonl"


def check_recording_path(record: Path, profile: Profile) -> None:
    """SetupError, before any load, if ``record`` cannot be written or would overwrite an input
    (the profile being run, its payload CSV): a run that ends with no recording, or with its
    own profile gone, must not first say "ensure ... ok"."""
    inputs = [p for p in (profile.path, profile.payload.path if profile.payload else None) if p]
    target = record.expanduser().resolve()
    for source in inputs:
        if source.resolve() == target:
            raise SetupError(f"--record {record} is this run's input ({source}); "
                             "choose another file")
    if target.is_dir():
        raise SetupError(f"--record {record} is a folder; name a file in it")
    existed = target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise SetupError(f"--record {record}: cannot write there: "
                         f"{exc.strerror or type(exc).__name__}") from exc
    if not existed:
        with contextlib.suppress(OSError):
            target.unlink()


async def prepare_run(profile: Profile, options: RunOptions) -> PreparedRun:
    """Resolve the target and build the session; raises SetupError before any load is sent."""
    prepared = await _prepare(profile, options)
    for attach in options.attach:
        attach(prepared.session)
    return prepared


async def _prepare(profile: Profile, options: RunOptions) -> PreparedRun:
    if not options.sandbox:  # a placeholder config.target does not matter to the sandbox
        profile.check_runnable()
    engine = engine_options(profile, options)
    if profile.target is not None and not options.sandbox:
        target: dict[str, Any] = {"kind": "http"}
        if profile.llm is not None:
            target["llm"] = profile.llm.as_spec(sagemaker=False)
        meta = {"prices": _override_prices(options.price)} if options.price else None
        session = Session(profile, target, target_label=profile.target,
                          workers=options.workers, record=options.record, seed=options.seed,
                          meta=meta)
        prepared = PreparedRun(session, profile.target)
    else:
        prepared = await _prepare_sagemaker(profile, options)
    if engine is not None:
        from driver.engine import attach_engine
        from metrics.engine import Selector

        attach_engine(prepared.session, engine.url, engine=engine.engine,
                      series=[Selector.parse(s) for s in engine.series],
                      interval=engine.interval, timeout=engine.timeout)
    return prepared


def engine_options(profile: Profile, options: RunOptions) -> EngineOptions | None:
    """The profile's ``engine`` section, its URL replaced by ``--engine-metrics``."""
    from dataclasses import replace

    from driver.profile.engine_section import check_url

    if options.engine_url is None:
        return profile.engine
    if not check_url(options.engine_url):
        raise SetupError(f"--engine-metrics: expected an http(s) URL, got "
                         f"{options.engine_url!r}")
    if profile.engine is None:
        return EngineOptions(url=options.engine_url)
    return replace(profile.engine, url=options.engine_url)


def runtime_url_is_aws(url: str) -> bool:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").endswith(".amazonaws.com")


def _override_prices(override: dict[str, float]) -> dict[str, dict[str, Any]]:
    from driver.aws.prices import resolve_prices

    return resolve_prices([], override=override, today=_today())[0]


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _prices(clients: AwsClients | None, instance_type: str | None, region: str,
            override: dict[str, float] | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """What the endpoint's instances cost per hour (meta.prices) and notes on the source."""
    from driver.aws.prices import resolve_prices

    pricing = None
    if clients is not None and not (override and "*" in override):
        with contextlib.suppress(Exception):  # no credentials for it: the table stands in
            pricing = clients.pricing()
    return resolve_prices([instance_type], override=override, pricing=pricing, region=region,
                          today=_today())


async def _prepare_sagemaker(profile: Profile, options: RunOptions) -> PreparedRun:
    """Pre-flight a SageMaker endpoint, then wire its target, pollers and scaling control."""
    from driver.aws import AwsClients, AwsError, AwsSettings
    from metrics.cloudwatch import (
        HIGH_RESOLUTION_S,
        CloudWatchPoller,
        poll_cost_per_hour,
        series_for,
    )
    from metrics.endpoint import EndpointPoller

    sagemaker = profile.sagemaker
    endpoint = options.endpoint or (sagemaker.endpoint if sagemaker else None)
    if endpoint is None:
        raise SetupError("this profile runs against the built-in sandbox, which `loadwatch run` "
                         "starts; name an endpoint in sagemaker.endpoint to use AWS")
    variant = options.variant or (sagemaker.variant if sagemaker else "AllTraffic")
    component = options.inference_component or (
        sagemaker.inference_component if sagemaker else None)
    try:
        settings = AwsSettings.resolve(
            sagemaker, region=options.region, aws_profile=options.aws_profile,
            endpoint_url=options.endpoint_url, credentials=options.aws_credentials)
        # boto3 reads its configuration and service models from disk: off the event loop.
        clients = options.aws_clients or await asyncio.to_thread(AwsClients, settings)
        found = await asyncio.to_thread(_preflight, clients, endpoint, variant, profile,
                                        component)
    except AwsError as exc:
        raise SetupError(_setup_message(exc, endpoint), exc.code) from exc

    control: ScalingControl = found["control"]
    credentials, notes = found["credentials"], list(found["notes"])
    # The Price List API is real AWS only: not the sandbox, not an --endpoint-url stand-in.
    real_aws = not options.sandbox and runtime_url_is_aws(found["runtime_url"])
    prices, price_notes = await asyncio.to_thread(
        _prices, clients if real_aws else None, found["instance_type"], found["region"],
        options.price)
    notes += price_notes
    runtime_url, region = found["runtime_url"], found["region"]
    spec = {
        "kind": "sagemaker", "runtime_url": runtime_url, "region": region,
        "endpoint": endpoint, "variant": variant,
        "content_type": sagemaker.content_type if sagemaker else None,
        "accept": sagemaker.accept if sagemaker else None,
        "custom_attributes": sagemaker.custom_attributes if sagemaker else None,
        "target_variant": sagemaker.target_variant if sagemaker else None,
        "inference_component": component,
        "credentials": credentials.as_spec(),
    }
    if profile.llm is not None:  # InvokeEndpointWithResponseStream, read as it arrives
        spec["stream"] = True
        spec["llm"] = profile.llm.as_spec(sagemaker=True)
    where = "the sandbox" if options.sandbox else region
    label = f"sagemaker:{endpoint}/{variant}{f'/{component}' if component else ''} ({where})"
    # Enhanced metrics publish as often as MetricsConfig says (10 s and up): poll at that.
    published = found["metrics_period"]
    period = int(profile.metrics.period or published or options.metrics_period or 60)
    interval = profile.metrics.poll_interval or float(period)
    session = Session(
        profile, spec, target_label=label, workers=options.workers, record=options.record,
        seed=options.seed, extra_secrets=credentials.secrets,
        meta={"aws": {"endpoint": endpoint, "variant": variant, "region": region,
                      "runtime_url": runtime_url, "sandbox": options.sandbox,
                      "instance_type": found["instance_type"],
                      "instances": found["instances"], "metrics_period": period,
                      **({"inference_component": component,
                          "components": found["components"]} if component else {})},
              "prices": prices, **_scaling_target(profile, control)},
    )
    prepared = PreparedRun(session, label, notes, scaling=control, endpoint=endpoint,
                           variant=variant)
    control.event = lambda name, message, **data: session.event("scaling", name, message,
                                                                **data)

    if profile.metrics.enabled:
        cloudwatch = CloudWatchPoller(found["cloudwatch"], endpoint, variant,
                                      session.emit, period=period, interval=interval,
                                      elapsed=session.elapsed, component=component,
                                      metrics=series_for(component, found["instance_type"]))
        endpoint_poller = EndpointPoller(
            clients.client("sagemaker"),
            clients.client("application-autoscaling") if control.saved is not None else None,
            endpoint, variant, session.emit, interval=profile.metrics.endpoint_interval,
            elapsed=session.elapsed, on_scaling=control.observe, component=component,
            cloudwatch=found["cloudwatch"])

        async def poll_cloudwatch(session: Session) -> None:
            cloudwatch.since = session.epoch0
            await cloudwatch.run()

        async def poll_endpoint(session: Session) -> None:
            endpoint_poller.since = session.epoch0
            await endpoint_poller.run()

        async def last_poll(session: Session) -> None:
            # The pollers are cancelled with the load; one more look records how the endpoint
            # ended (a scale-out that landed in the last seconds, the last complete period).
            for poll in (endpoint_poller.poll, cloudwatch.poll):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(poll(), LAST_POLL_TIMEOUT_S)

        session.add_producer(poll_cloudwatch)
        session.add_producer(poll_endpoint)
        session.add_cleanup(last_poll)
        cost = poll_cost_per_hour(interval, len(cloudwatch.metrics))
        price = (f"free against the sandbox (on AWS: about ${cost:.4f}/hour)" if options.sandbox
                 else f"about ${cost:.4f}/hour")
        finer = f"; ConcurrentRequestsPerModel {HIGH_RESOLUTION_S} s" \
            if period > HIGH_RESOLUTION_S else ""
        notes.append(f"CloudWatch: {len(cloudwatch.metrics)} metrics every {interval:g} s "
                     f"({period} s periods{finer}), GetMetricData at $0.01 per 1,000 metrics: "
                     f"{price}")
        if period < (published or 60) and not options.sandbox:
            notes.append(f"warning: metrics.period is {period} s, but this endpoint publishes "
                         f"every {published or 60} s (its MetricsConfig): shorter periods show "
                         "little or nothing on AWS")

    if component:
        _watch_cold_starts(session)

    async def scaling_at_start(session: Session) -> None:
        control.announce_saved()
        await control.apply_profile()

    async def scaling_at_exit(session: Session) -> None:
        await control.restore_at_exit()

    control.keep_at_exit = options.keep_scaling
    control.keep_instances = options.keep_instances
    session.add_producer(scaling_at_start)
    session.add_cleanup(scaling_at_exit)
    keep = ("kept at exit (--keep-scaling)" if options.keep_scaling
            else "restored at exit, instance count kept (--keep-instances)"
            if options.keep_instances else "restored at exit, instance count included")
    if control.saved is not None:
        # "before this run": the profile's own change follows as an event, and the header
        # shows the scaling in force; without it this read as the state now.
        notes.append(f"scaling: before this run, {control.saved.describe()}; changes are {keep}")
    return prepared


def _preflight(clients: AwsClients, endpoint: str, variant: str,
               profile: Profile, component: str | None = None) -> dict[str, Any]:
    """Everything that must hold before load is sent (blocking: run it in a thread).

    Credentials are resolved first, so a machine without any sends nothing at all.
    """
    from driver.aws import AwsError, ScalingControl, call
    from driver.aws.components import check_component, describe_component, find_components

    credentials = clients.frozen_credentials()
    region = clients.region
    runtime_url = clients.runtime_url()
    sm = clients.client("sagemaker")
    described = call(f"describing endpoint {endpoint}", sm.describe_endpoint,
                     EndpointName=endpoint)
    status = described.get("EndpointStatus", "Unknown")
    if status != "InService":
        reason = described.get("FailureReason")
        raise AwsError(f"endpoint {endpoint} is {status}, not InService"
                       + (f": {reason}" if reason else "") + "; load needs an InService endpoint",
                       f"EndpointStatus={status}")
    variants = {v.get("VariantName"): v for v in described.get("ProductionVariants", [])}
    if variant not in variants:
        raise AwsError(f"endpoint {endpoint} has no variant {variant!r} (it has "
                       f"{', '.join(map(str, variants)) or 'none'}); set sagemaker.variant",
                       "UnknownVariant")
    instances = variants[variant].get("CurrentInstanceCount")
    instance_type = None
    config: dict[str, Any] = {}
    config_name = described.get("EndpointConfigName")
    if config_name:
        config = call(f"describing endpoint config {config_name}", sm.describe_endpoint_config,
                      EndpointConfigName=config_name)
        instance_type = next((v.get("InstanceType") for v in config.get("ProductionVariants", [])
                              if v.get("VariantName") == variant), None)
    notes = [f"target: SageMaker endpoint {endpoint}, variant {variant}: "
             f"{instances} x {instance_type or 'serverless'}, {status}, via {runtime_url}"]
    hosted = find_components(sm, endpoint, variant, config)
    check_component(hosted, component, endpoint)
    components = [describe_component(sm, name) for name in hosted.names]
    notes += [f"inference {c.describe()}" for c in components]
    if hosted.managed_scaling_line():
        notes.append(f"variant {variant}: {hosted.managed_scaling_line()}")
    control = ScalingControl(clients.client("application-autoscaling"), endpoint, variant,
                             profile.scaling, sagemaker=sm, component=component,
                             cloudwatch=clients.client("cloudwatch"))
    control.check_options()
    published = (described.get("MetricsConfig") or {}).get("MetricPublishFrequencyInSeconds")
    if published and published < 60:  # CloudWatch alarms take 10, 30 or n x 60 s periods
        control.alarm_period_s = 10 if published <= 10 else 30 if published <= 30 else 60
    copies = next((c.desired_copies for c in components if c.name == component), None)
    changes_scaling = profile.scaling is not None and profile.scaling.enabled is not None
    try:
        control.save(copies if component else instances, instance_type)
    except AwsError as exc:
        if changes_scaling:
            raise
        control.saved = None
        notes.append(f"warning: cannot read the scaling configuration ({exc}); scaling "
                     "will not be shown or changed")
    if credentials.expires_at is not None:
        left = credentials.expires_at - time.time()
        if left < profile.duration + 60:
            notes.append(f"warning: the AWS credentials expire in {max(left, 0) / 60:.0f} min, "
                         "before the run ends; workers keep the copy they started with, so "
                         "later requests will fail with ExpiredTokenException")
    return {"credentials": credentials, "region": region, "runtime_url": runtime_url,
            "instances": instances, "instance_type": instance_type, "notes": notes,
            "control": control, "cloudwatch": clients.client("cloudwatch"),
            "components": [c.to_dict() for c in components],
            "metrics_period": (described.get("MetricsConfig") or {}).get(
                "MetricPublishFrequencyInSeconds")}


def _watch_cold_starts(session: Session) -> None:
    """Each cold start of the component, as it completes, becomes an event (source
    ``endpoint``, name ``cold_start``) stamped at its first success: the event log, the
    recording and replay carry it."""
    from metrics.cold_start import EVENT, ColdStartTracker

    tracker = ColdStartTracker(component=True)

    def watch(record: Any) -> None:
        done = tracker.add(record)
        if done is not None:
            session.event("endpoint", EVENT, done.describe(), at=done.success_at,
                          **done.to_dict())

    session.subscribe(watch)


def _scaling_target(profile: Profile, control: ScalingControl) -> dict[str, Any]:
    """The header's fixed record of the scaling target, when known before load starts."""
    from metrics.scaling_target import policy_metric, policy_target, target_meta

    if profile.scaling is not None and profile.scaling.enabled:
        return target_meta(profile.scaling.target, "profile", control.policy_metric())
    saved = control.saved.to_dict() if control.saved is not None else None
    return target_meta(policy_target(saved), "policy in force", policy_metric(saved))


def _setup_message(exc: Any, endpoint: str) -> str:
    """The one line for a failed pre-flight, in the user's words."""
    message = str(exc.message)
    if exc.code == "ValidationException" and "Could not find endpoint" in message:
        return f"SageMaker endpoint {endpoint!r} not found (wrong name or region?)"
    return f"{exc.doing}: {message}" if exc.doing else message

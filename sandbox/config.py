"""What a sandbox is made of: instance profiles, timings and the fixed identity it answers as.

Everything is a frozen dataclass so a configuration can be passed to a child process as plain
command-line flags and compared in tests. Two timing presets exist: ``fast`` (10 s periods, a
30 s provisioning delay) makes the blog's BEFORE/AFTER story fit in a few minutes; ``realistic``
uses the timings AWS shows (1-minute periods, minutes to provision). In both,
ConcurrentRequestsPerModel is published every 10 s, its resolution on AWS.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from sandbox.llm import LlmProfile

# Not secrets: the sandbox only listens on 127.0.0.1 and these are printed for the user. They
# look like AWS keys so that client-side validation (length, prefix) accepts them.
DEFAULT_ACCESS_KEY_ID = "AKIASANDBOXLOADWATCH"
DEFAULT_SECRET_ACCESS_KEY = "loadwatch/sandbox/not-a-secret/0123456789abcd"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_ENDPOINT_NAME = "loadwatch-sandbox"
DEFAULT_VARIANT = "AllTraffic"
DEFAULT_INSTANCE_TYPE = "ml.m4.xlarge"

ROUTING_RANDOM = "random"
ROUTING_LEAST_OUTSTANDING = "least-outstanding"
ROUTINGS = (ROUTING_RANDOM, ROUTING_LEAST_OUTSTANDING)


@dataclass(frozen=True, slots=True)
class InstanceProfile:
    """How one simulated instance serves: workers, service time, queue bound, time limit.

    Capacity is ``workers / service_time_ms * 1000`` requests per second. The service time is
    drawn from a normal distribution (standard deviation ``jitter_ms``) clamped to
    [mean/5, mean + 4 jitter]; it is simulated with ``asyncio.sleep``, so an instance costs no
    CPU while "busy". ``queue_bound`` requests may wait for a worker; beyond that the endpoint
    answers 503. A request still unanswered ``container_timeout_s`` after it reached the
    instance fails with ModelError, as SageMaker's 60 s container limit does.
    """

    instance_type: str = DEFAULT_INSTANCE_TYPE
    vcpus: int = 4
    memory_gib: float = 16.0
    workers: int = 4
    service_time_ms: float = 9.5
    jitter_ms: float = 1.0
    queue_bound: int = 128
    container_timeout_s: float = 60.0
    llm: LlmProfile | None = None  # a GPU instance serving a language model (sandbox/llm.py)
    accelerators: int = 0  # GPUs, for placing inference components that ask for them

    @property
    def capacity_rps(self) -> float:
        """Requests per second one instance serves; for an LLM, ``workers`` sequences at a time."""
        return self.workers * 1000.0 / self.service_time_ms

    def replace(self, **changes: object) -> InstanceProfile:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# ml.m4.xlarge mirrors the blog: 4 vCPUs, about 420 RPS at about 10 ms; a queue of 128 waits
# about 300 ms at saturation, the latency the blog saw before errors began. Other types scale
# workers with vCPUs at the same per-request service time.
INSTANCE_PROFILES: dict[str, InstanceProfile] = {
    "ml.m4.xlarge": InstanceProfile(),
    "ml.m5.large": InstanceProfile("ml.m5.large", vcpus=2, memory_gib=8.0, workers=2,
                                   queue_bound=64),
    "ml.m5.xlarge": InstanceProfile("ml.m5.xlarge"),
    "ml.c5.xlarge": InstanceProfile("ml.c5.xlarge", memory_gib=8.0, service_time_ms=8.0),
    "ml.c5.2xlarge": InstanceProfile("ml.c5.2xlarge", vcpus=8, memory_gib=16.0, workers=8,
                                     service_time_ms=8.0, queue_bound=256),
    # One A10G (24 GB) serving a 7B model in fp16 with continuous batching; the constants and
    # their sources are in docs/sandbox.md. ``workers`` is how many sequences of 256 input and
    # 256 output tokens fit the KV cache at once, and ``service_time_ms`` how long each takes
    # then, so ``capacity_rps`` is the request rate that saturates it with such requests.
    "ml.g5.2xlarge": InstanceProfile("ml.g5.2xlarge", vcpus=8, memory_gib=32.0, workers=32,
                                     service_time_ms=11_000.0, jitter_ms=0.0, queue_bound=512,
                                     llm=LlmProfile(), accelerators=1),
    # Four A10Gs: an instance that holds four copies of a one-GPU inference component. Its
    # serving figures are one GPU's (a copy serves like one ml.g5.2xlarge).
    "ml.g5.12xlarge": InstanceProfile("ml.g5.12xlarge", vcpus=48, memory_gib=192.0, workers=32,
                                      service_time_ms=11_000.0, jitter_ms=0.0, queue_bound=512,
                                      llm=LlmProfile(), accelerators=4),
    # For tests: about 50 RPS, so saturating it takes little load on a 2-core machine.
    "small": InstanceProfile("ml.c5.large", vcpus=2, memory_gib=4.0, workers=1,
                             service_time_ms=20.0, jitter_ms=1.0, queue_bound=10,
                             container_timeout_s=2.0),
}


@dataclass(frozen=True, slots=True)
class Timings:
    """How the sandbox compresses AWS's clock.

    ``period_s`` is the metric period (CloudWatch and the scaling alarms); datapoints become
    visible ``publication_delay_s`` after their period ends. New instances serve after
    ``provisioning_delay_s``; removed ones leave after ``deprovisioning_delay_s``. Under
    managed instance scaling an instance left without inference-component copies is released
    after ``idle_instance_release_s`` (AWS: about 10 minutes) plus the deprovisioning delay.
    ``default_cooldown_s`` applies when a scaling policy names no cooldown (AWS: 300 s).
    ``high_resolution_s`` is the period of the high-resolution ``ConcurrentRequestsPerModel``
    (AWS: 10 s, whatever the standard metrics' minute); ``concurrency_period_s`` says what
    is used: it, when it divides ``period_s``, else ``period_s`` itself.
    """

    period_s: float = 10.0
    publication_delay_s: float = 5.0
    provisioning_delay_s: float = 30.0
    deprovisioning_delay_s: float = 10.0
    default_cooldown_s: float = 50.0
    high_resolution_s: float = 10.0
    idle_instance_release_s: float = 60.0

    @property
    def concurrency_period_s(self) -> float:
        fine = self.high_resolution_s
        if 0 < fine < self.period_s and self.period_s % fine == 0:
            return fine
        return self.period_s


FAST = Timings()
REALISTIC = Timings(period_s=60.0, publication_delay_s=60.0, provisioning_delay_s=300.0,
                    deprovisioning_delay_s=120.0, default_cooldown_s=300.0,
                    idle_instance_release_s=600.0)


@dataclass(frozen=True, slots=True)
class ComponentConfig:
    """One inference component: what a copy needs, how it serves and how long it takes to load.

    ``cores``, ``accelerators`` and ``memory_mb`` are ComputeResourceRequirements'
    NumberOfCpuCoresRequired, NumberOfAcceleratorDevicesRequired and MinMemoryRequiredInMb: a
    copy is placed only on an instance with that much left. ``serving`` is how one copy serves
    (an instance profile's workers, service time or LLM engine). ``copies`` is the initial
    DesiredCopyCount (0: scaled to zero); ``load_s`` the model-load time of each new copy.
    """

    name: str
    serving: InstanceProfile = field(default_factory=InstanceProfile)
    cores: float = 1.0
    accelerators: int = 0
    memory_mb: int = 1024
    copies: int = 1
    load_s: float = 5.0


@dataclass(frozen=True, slots=True)
class ManagedScaling:
    """The variant's ManagedInstanceScaling: instances come and go with the copies they hold."""

    min_instances: int = 0
    max_instances: int = 1


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str = DEFAULT_ACCESS_KEY_ID
    secret_access_key: str = DEFAULT_SECRET_ACCESS_KEY


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything a sandbox needs to start; the defaults are the blog's endpoint in fast mode.

    ``internal_failure_rate`` answers that fraction of invocations with InternalFailure (500)
    and ``throttle_rps`` throttles invocations above that rate (ThrottlingException, HTTP 400
    as SageMaker sends it), so a client's handling of both can be exercised;
    ``stream_error_rate`` cuts that fraction of an LLM instance's streams part-way
    (ModelStreamError, or a dropped SSE connection). All three are off by default.
    """

    endpoint_name: str = DEFAULT_ENDPOINT_NAME
    variant: str = DEFAULT_VARIANT
    profile: InstanceProfile = field(default_factory=InstanceProfile)
    initial_instances: int = 1
    timings: Timings = FAST
    routing: str = ROUTING_RANDOM
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    credentials: Credentials = field(default_factory=Credentials)
    seed: int | None = None
    internal_failure_rate: float = 0.0
    throttle_rps: float | None = None
    stream_error_rate: float = 0.0
    # An endpoint with inference components (sandbox/components.py) instead of a model.
    components: tuple[ComponentConfig, ...] = ()
    managed_scaling: ManagedScaling | None = None

    def __post_init__(self) -> None:
        if self.routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, not {self.routing!r}")
        if self.initial_instances < 1:
            raise ValueError("initial_instances must be at least 1")
        names = [c.name for c in self.components]
        if len(set(names)) != len(names):
            raise ValueError("inference component names must be unique")
        if self.managed_scaling is not None and not self.components:
            raise ValueError("managed instance scaling needs inference components")
        host = self.profile
        for component in self.components:
            if component.copies < 0 or component.load_s < 0:
                raise ValueError(f"inference component {component.name}: copies and load "
                                 "time must not be negative")
            if (component.cores > host.vcpus or component.memory_mb > host.memory_gib * 1024
                    or component.accelerators > host.accelerators):
                raise ValueError(
                    f"inference component {component.name} needs {component.cores:g} cores, "
                    f"{component.memory_mb} MB and {component.accelerators} GPUs a copy; one "
                    f"{host.instance_type} has {host.vcpus}, {int(host.memory_gib * 1024)} MB "
                    f"and {host.accelerators}")
        if self.timings.period_s <= 0:
            raise ValueError("period_s must be positive")

    def replace(self, **changes: object) -> SandboxConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def with_component(config: SandboxConfig, name: str, *, copies: int = 1,
                   max_instances: int = 4, min_instances: int = 0, load_s: float = 5.0,
                   cores: float | None = None, memory_mb: int | None = None,
                   accelerators: int | None = None) -> SandboxConfig:
    """``config`` as an endpoint hosting one inference component under managed scaling.

    By default a copy takes one GPU on a GPU instance (and serves as the profile says: one
    GPU's figures), else one core, a share of the memory and of the workers, so a
    4-vCPU instance holds four copies of one worker each.
    """
    host = config.profile
    if accelerators is None:
        accelerators = 1 if host.accelerators else 0
    if cores is None:
        cores = 1.0
    if memory_mb is None:
        share = accelerators / host.accelerators if accelerators and host.accelerators \
            else cores / host.vcpus
        memory_mb = max(128, int(host.memory_gib * 1024 * share * 0.9))
    serving = host
    if not accelerators:
        fraction = cores / host.vcpus
        serving = host.replace(workers=max(1, round(host.workers * fraction)),
                               queue_bound=max(1, round(host.queue_bound * fraction)))
    component = ComponentConfig(name, serving, cores, accelerators, memory_mb, copies, load_s)
    return config.replace(components=(component,),
                          managed_scaling=ManagedScaling(min_instances, max_instances))


def with_scaled_component(config: SandboxConfig, name: str, *, min_copies: int, max_copies: int,
                          load_s: float = 5.0) -> SandboxConfig:
    """``config`` hosting component ``name`` as a profile's scaling section sizes it: its
    minimum of copies to start with (0: scaled to zero), and managed instance scaling from zero
    up to the instances its maximum of copies needs (a copy takes one GPU, else one core)."""
    per_instance = config.profile.accelerators or config.profile.vcpus
    return with_component(config, name, copies=min_copies, min_instances=0,
                          max_instances=max(1, -(-max_copies // per_instance)), load_s=load_s)


def profile_named(name: str) -> InstanceProfile:
    """The built-in profile called ``name`` (an instance type, or ``small`` for tests)."""
    try:
        return INSTANCE_PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(INSTANCE_PROFILES))
        raise ValueError(f"unknown instance profile {name!r}; known: {known}") from None


def config_to_json(config: SandboxConfig) -> str:
    """The whole configuration as JSON, for a child process (``config_from_json`` reverses it)."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def _profile_from_dict(data: dict) -> InstanceProfile:
    return InstanceProfile(**{**data, "llm": LlmProfile(**data["llm"]) if data.get("llm")
                              else None})


def config_from_json(text: str) -> SandboxConfig:
    data = json.loads(text)
    managed = data.get("managed_scaling")
    return SandboxConfig(**{
        **data,
        "profile": _profile_from_dict(data["profile"]),
        "timings": Timings(**data["timings"]),
        "credentials": Credentials(**data["credentials"]),
        "components": tuple(
            ComponentConfig(**{**c, "serving": _profile_from_dict(c["serving"])})
            for c in data.get("components") or ()),
        "managed_scaling": ManagedScaling(**managed) if managed else None,
    })


def sandbox_env(url: str, config: SandboxConfig) -> dict[str, str]:
    """The environment that points AWS SDKs and loadwatch at a sandbox."""
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_REGION": config.region,
        "AWS_ACCESS_KEY_ID": config.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": config.credentials.secret_access_key,
        "LOADWATCH_SANDBOX_ENDPOINT": config.endpoint_name,
        "LOADWATCH_SANDBOX_VARIANT": config.variant,
    }
    if config.components:
        env["LOADWATCH_SANDBOX_INFERENCE_COMPONENT"] = config.components[0].name
    return env


class SandboxHandle:
    """What every way of running a sandbox offers: where it listens and who it answers as."""

    config: SandboxConfig
    endpoint_url: str

    @property
    def region(self) -> str:
        return self.config.region

    @property
    def credentials(self) -> Credentials:
        return self.config.credentials

    @property
    def endpoint_name(self) -> str:
        return self.config.endpoint_name

    @property
    def variant(self) -> str:
        return self.config.variant

    def env(self) -> dict[str, str]:
        """AWS_ENDPOINT_URL, region, credentials, endpoint name and variant, as strings."""
        if not self.endpoint_url:
            raise RuntimeError("the sandbox is not running")
        return sandbox_env(self.endpoint_url, self.config)

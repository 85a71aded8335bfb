"""The profile as data: phases, requests to render, options for each loadwatch section.

``driver.profile`` reads YAML into these; everything else reads these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from driver.schedule import Phase, RateFunction


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None  # None: the problem is with the file (or an option), not one line
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}"


class ProfileError(Exception):
    """A profile that cannot be run; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))




@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How the driver sends load: top-level ``load:``, and Artillery's ``config.http``."""

    workers: int = 1
    arrivals: str = "even"  # even | poisson
    timeout: float = 30.0  # seconds for one request
    connections: int = 256  # per worker
    max_in_flight: int = 2048  # per worker; due requests beyond it are counted as not sent
    late_ms: float = 10.0  # a send this far behind its intended time counts as late
    # rate: phases are arrivals per second (open model); concurrency: phases' arrivalRate and
    # rampTo are requests kept in flight (closed loop), and the rate keys change that number.
    mode: str = "rate"


@dataclass(frozen=True, slots=True)
class SageMakerOptions:
    endpoint: str | None = None  # None: the built-in sandbox
    variant: str = "AllTraffic"
    region: str | None = None
    aws_profile: str | None = None
    endpoint_url: str | None = None
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None
    target_variant: str | None = None
    # X-Amzn-SageMaker-Inference-Component on every request; scaling acts on the component
    inference_component: str | None = None
    stream: bool = False  # InvokeEndpointWithResponseStream (the llm section's options apply)


@dataclass(frozen=True, slots=True)
class LlmOptions:
    """The ``llm:`` section: a streaming LLM target's prompts, payload shapes, SLOs, timeouts.

    Lengths are ``{"kind": "fixed"|"uniform"|"normal", ...}`` (``driver.profile.prompts``'s
    ``LengthDistribution`` fields); times are seconds. It travels to the workers as a dict
    inside the target spec (``as_spec``).
    """

    api: str | None = None  # request body: tgi | chat | completions; None: per target type
    shape: str | None = None  # streamed payload: openai | tgi | jsonl; None: from api
    model: str | None = None  # OpenAI's "model" field
    prompts: str | None = None  # a JSON Lines file (absolute), validated when read
    order: str = "sequence"  # sequence | random (prompts file)
    input_tokens: dict[str, Any] = field(default_factory=lambda: {"kind": "fixed", "value": 128})
    output_tokens: dict[str, Any] = field(default_factory=lambda: {"kind": "fixed", "value": 128})
    seed: int = 0
    max_tokens: int = 128  # for prompts without max_tokens
    slo_ttft: float | None = None  # goodput: TTFT (from the intended send) at most this
    slo_tpot: float | None = None  # and TPOT at most this
    ttft_timeout: float | None = None  # no first token by then: ttft_timeout (None: timeout)
    ignore_eos: bool = False  # ask for exactly the output length (vLLM's ignore_eos)
    extra_body: dict[str, Any] | None = None  # more body fields, sent as given (min_tokens...)
    max_model_len: int | None = None  # the model's context length: validate warns beyond it

    def resolved_api(self, sagemaker: bool) -> str:
        return self.api or ("tgi" if sagemaker else "chat")

    def resolved_shape(self, sagemaker: bool) -> str:
        return self.shape or ("tgi" if self.resolved_api(sagemaker) == "tgi" else "openai")

    def as_spec(self, sagemaker: bool) -> dict[str, Any]:
        """The worker's copy: plain JSON, with api and shape decided."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__} | {
            "api": self.resolved_api(sagemaker), "shape": self.resolved_shape(sagemaker),
            "transport": "sagemaker" if sagemaker else "sse"}


@dataclass(frozen=True, slots=True)
class ScalingOptions:
    min: int = 1
    max: int = 4
    # invocations: SageMakerVariantInvocationsPerInstance, target in invocations per instance
    # per minute; concurrency: SageMakerVariantConcurrentRequestsPerModelHighResolution,
    # target in requests in flight (queued included) per model copy
    metric: str = "invocations"
    target: float = 25000.0
    scale_in_cooldown: float = 300.0
    scale_out_cooldown: float = 300.0
    disable_scale_in: bool = False
    policy_name: str = "loadwatch-target-tracking"
    disable_mode: str = "suspend"  # suspend | delete
    enabled: bool | None = None  # None: leave as found at start; True/False: set at start
    # inference components only: the step-scaling policy + CloudWatch alarm on
    # NoCapacityInvocationFailures that brings a component back from zero copies
    scale_from_zero: bool = False


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """``engine:``: the serving engine's Prometheus endpoint, scraped for the whole run."""

    url: str
    engine: str | None = None  # vllm | tgi | sglang | triton; None: told from the series names
    series: tuple[str, ...] = ()  # more series to record, as name or name{label="value"}
    interval: float = 5.0  # seconds between scrapes
    timeout: float = 2.0  # seconds one scrape may take


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    """``sandbox:``: how the built-in sandbox serves (a profile without a target only)."""

    twin: str  # a twin file's absolute path: the sandbox serves like the fitted twin
    twin_line: int | None = None  # where the profile names it, for a problem inside the file


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    enabled: bool = True
    period: int | None = None  # seconds; None: 60 on AWS, the sandbox's period there
    poll_interval: float | None = None  # seconds; None: derived from the period
    endpoint_interval: float = 10.0  # DescribeEndpoint / scaling activities


@dataclass
class Payload:
    path: Path
    fields: list[str]
    rows: list[list[str]]
    order: str = "random"  # random | sequence


@dataclass
class Template:
    """A string with ``{{ field }}`` holes; parts are literals or payload field indexes."""

    source: str
    parts: list[str | int]

    @property
    def constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(self, row: list[str] | None) -> str:
        if self.constant:
            return "".join(self.parts)  # type: ignore[arg-type]
        assert row is not None
        return "".join(p if isinstance(p, str) else row[p] for p in self.parts)


@dataclass
class RequestSpec:
    method: str
    url: Template
    headers: dict[str, Template]
    body: Template | None = None
    query: dict[str, Template] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    weight: float
    request: RequestSpec


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass
class Profile:
    path: Path | None
    target: str | None  # None: no HTTP target (SageMaker endpoint or the sandbox)
    phases: list[Phase]
    scenarios: list[Scenario]
    ensure: dict[str, float] = field(default_factory=dict)
    payload: Payload | None = None
    load: LoadOptions = field(default_factory=LoadOptions)
    sagemaker: SageMakerOptions | None = None
    scaling: ScalingOptions | None = None
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    llm: LlmOptions | None = None  # a streaming LLM target (the llm section, sagemaker.stream)
    engine: EngineOptions | None = None  # the engine's own metrics (the engine section)
    sandbox: SandboxOptions | None = None  # the built-in sandbox's twin (the sandbox section)
    target_problem: Problem | None = None  # set when config.target is a placeholder
    secrets: set[str] = field(default_factory=set)
    sanitized: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases)

    @property
    def requests(self) -> int:
        """Requests the schedule sends (as the workers' pacers count them)."""
        rate = RateFunction.from_phases(self.phases)
        return rate.requests_before(rate.duration)

    @property
    def uses_sandbox(self) -> bool:
        return (self.target is None and self.target_problem is None
                and (self.sagemaker is None or self.sagemaker.endpoint is None))

    def check_runnable(self) -> None:
        """Raise ProfileError if the profile is valid but cannot send load as it stands."""
        if self.target_problem is not None:
            raise ProfileError([self.target_problem])

    def rendered_requests(self) -> list[list[RenderedRequest]]:
        """Per scenario, the requests with templates filled: one per payload row, in row order.

        A scenario that uses no payload field renders once.
        """
        rows: list[list[str] | None] = list(self.payload.rows) if self.payload else [None]
        out = []
        for scenario in self.scenarios:
            spec = scenario.request
            used = rows if _uses_fields(spec) else rows[:1]
            out.append([_render(self.target, spec, row) for row in used])
        return out


def _uses_fields(spec: RequestSpec) -> bool:
    templates = [spec.url, *spec.headers.values(), *spec.query.values()]
    if spec.body is not None:
        templates.append(spec.body)
    return any(not t.constant for t in templates)


def _render(target: str | None, spec: RequestSpec, row: list[str] | None) -> RenderedRequest:
    url = spec.url.render(row)
    if target and not urlsplit(url).scheme:
        url = urljoin(target.rstrip("/") + "/", url.lstrip("/")) if url else target
    if spec.query:
        url += ("&" if "?" in url else "?") + urlencode(
            {k: t.render(row) for k, t in spec.query.items()}
        )
    headers = {k: t.render(row) for k, t in spec.headers.items()}
    body = spec.body.render(row).encode() if spec.body is not None else None
    return RenderedRequest(spec.method.upper(), url, headers, body)


"""The record types a session is made of.

A session is a stream of timestamped records. Producers (load workers, pollers, the operator,
the schedule, replay) emit them; consumers (the TUI, the headless printer, the recorder, ensure,
compare, report) read them. Every record serialises to one JSON object with a ``type`` field;
``to_dict``/``record_from_dict`` are the only encoder and decoder.

Times: ``t`` is UTC wall-clock epoch seconds (to line up with CloudWatch), ``elapsed`` is seconds
since the session started (monotonic clock). Latencies are milliseconds unless a name says _us.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

# 2: Tick.latency and Tick.service hold successful requests only, Tick.failed_latency the rest;
#    Header.meta.scaling_target names the scaling target. Format 1 mixed failures into latency.
# 3: the streaming LLM fields of Tick (ttft, ttft_sent, itl, tpot, token and goodput counters,
#    stream_errors); older recordings read with those fields empty.
FORMAT_VERSION = 3
OK_LATENCY_FORMAT = 2
# What a latency figure covers, as tables label it: "p99 (ok)" or "p99 (all requests)".
LATENCY_OK = "ok"
LATENCY_ALL = "all requests"

# Outcome classes of one request, in display order.
OK = "ok"
HTTP_4XX = "4xx"
HTTP_5XX = "5xx"
THROTTLED = "throttled"
TIMEOUT = "timeout"
CONN_ERROR = "conn_error"
OTHER = "other"
OUTCOMES: tuple[str, ...] = (OK, HTTP_4XX, HTTP_5XX, THROTTLED, TIMEOUT, CONN_ERROR, OTHER)
ERROR_OUTCOMES: tuple[str, ...] = OUTCOMES[1:]


@dataclass(slots=True)
class Header:
    """First line of a recording: what was run, against what, when."""

    TYPE: ClassVar[str] = "header"
    format: int
    tool_version: str
    started_at: str  # ISO 8601 UTC
    t: float  # epoch seconds at elapsed 0
    target: str
    profile_path: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)  # sanitised, secrets never included
    workers: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Tick:
    """One second of client-side load, merged across workers.

    ``second`` k covers elapsed [k, k+1). Sends are counted in the second they happened,
    completions in the second they completed. Histograms are HDR encodings in microseconds:
    ``latency`` from the intended send time (corrected for coordinated omission), ``service``
    from the actual send, both of successful (``ok``) requests only; ``failed_latency`` from
    the intended send time of every other completed request; ``lag`` is actual minus intended
    send time. In format 1 ``latency`` and ``service`` held failed requests too.
    """

    TYPE: ClassVar[str] = "tick"
    second: int
    t: float
    elapsed: float
    phase: str | None
    phase_index: int
    target_rps: float  # requests the schedule asked for in this second
    sent: int = 0
    completed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # HTTP status code -> count
    errors: dict[str, int] = field(default_factory=dict)  # error code -> count
    late: int = 0  # sent more than the late threshold after their intended time
    not_sent: int = 0  # due but not sent: in-flight cap reached, or late past the schedule's end
    in_flight: float = 0  # mean over the second, time-weighted (older recordings: at its end)
    out_of_range: int = 0  # latencies the histogram could not hold
    retried: int = 0  # sent again on a fresh connection: the reused one was stale
    in_schedule: bool = True  # False for seconds after the schedule's end (requests draining)
    latency: str = ""
    service: str = ""
    lag: str = ""
    workers: int = 1
    failed_latency: str = ""
    # Streaming LLM targets only (empty otherwise; docs/streaming.md). HDR in microseconds:
    # time to first token from the intended send (ok streams; the headline) and from the
    # actual send, inter-token latency (one sample per token), time per output token.
    ttft: str = ""
    ttft_sent: str = ""
    itl: str = ""
    tpot: str = ""
    output_tokens: int = 0
    input_tokens: int = 0  # from the stream's usage, else the prompt's words
    output_tokens_estimated: int = 0  # of output_tokens, those counted from chunks
    goodput: int = 0  # requests that met both SLOs (ttft and tpot)
    stream_errors: dict[str, int] = field(default_factory=dict)  # outcome -> count
    # Streams cut by the operator's stop (Ctrl-C, a signal, the kill key): neither completed
    # nor errors, outside the error rate and goodput (added within format 3; absent: 0).
    interrupted: int = 0
    # The load generator's own load (issue 23, within format 3; absent: empty): each worker's
    # CPU time over the second as a fraction of one core (worker index -> fraction), and the
    # worst lag of a worker's event loop in the second, in ms (a timer's wake-up past its due).
    cpu: dict[str, float] = field(default_factory=dict)
    loop_lag_ms: float = 0.0

    @property
    def errors_total(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != OK)


@dataclass(slots=True)
class Event:
    """Something that happened: a phase started, the operator changed the rate, an error code."""

    TYPE: ClassVar[str] = "event"
    t: float
    elapsed: float
    source: str  # schedule | operator | driver | target | scaling | poller | session
    name: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Datapoint:
    """One server-side metric value for one period, as CloudWatch reports it.

    ``t`` is the start of the period. Latencies are converted to milliseconds once, by the
    poller; ``unit`` says what the value is after conversion.
    """

    TYPE: ClassVar[str] = "metric"
    t: float
    period: int
    namespace: str
    metric: str
    stat: str
    value: float
    unit: str = ""
    revised: bool = False  # an update of a value emitted before


@dataclass(slots=True)
class EndpointState:
    """The endpoint as DescribeEndpoint sees it at one moment."""

    TYPE: ClassVar[str] = "endpoint"
    t: float
    elapsed: float
    endpoint: str
    status: str
    variants: list[dict[str, Any]] = field(default_factory=list)
    # each: {"name", "current", "desired", "instance_type"}
    components: list[dict[str, Any]] = field(default_factory=list)
    # inference components under load, each: {"name", "current", "desired", "status"} (copies)

    def instance_counts(self) -> tuple[int | None, int | None]:
        """(current, desired) instances over the variants; 0 is a count, None unknown."""
        return _totals(self.variants)

    def copy_counts(self) -> tuple[int | None, int | None]:
        """(current, desired) copies of the components under load; None without any."""
        return _totals(self.components)


def _totals(entries: list[dict[str, Any]]) -> tuple[int | None, int | None]:
    def total(key: str) -> int | None:
        known = [e[key] for e in entries if e.get(key) is not None]
        return sum(known) if known else None

    return total("current"), total("desired")


@dataclass(slots=True)
class ScalingActivity:
    """One Application Auto Scaling activity; emitted again when its status changes."""

    TYPE: ClassVar[str] = "scaling"
    t: float  # start time
    activity_id: str
    status: str  # Pending | InProgress | Successful | Failed | ...
    description: str = ""
    cause: str = ""
    end: float | None = None
    status_message: str = ""


@dataclass(slots=True)
class Footer:
    """Last line of a complete recording."""

    TYPE: ClassVar[str] = "footer"
    t: float
    elapsed: float
    reason: str  # completed | killed | interrupted | error
    summary: dict[str, Any] = field(default_factory=dict)
    ensure: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int = 0


def latency_basis(header: Header | None) -> str:
    """What the latency histograms of a recording hold: ``LATENCY_OK`` or ``LATENCY_ALL``."""
    if header is None or header.format >= OK_LATENCY_FORMAT:
        return LATENCY_OK
    return LATENCY_ALL


def concurrency_target(header: Header | None) -> bool:
    """The run's target is requests kept in flight (``load.mode: concurrency``), not a rate:
    its ticks' ``target_rps`` is then the mean concurrency asked for over the second."""
    return header is not None and concurrency_profile(header.profile)


def concurrency_profile(profile: dict[str, Any] | None) -> bool:
    """``concurrency_target`` of a sanitised profile (the header's ``profile``)."""
    load = profile.get("load") if isinstance(profile, dict) else None
    return isinstance(load, dict) and str(load.get("mode", "")).lower() == "concurrency"


def target_text(value: float, concurrency: bool, digits: int = 0) -> str:
    """A tick's target as a person reads it: ``4 in flight`` or ``4/s``."""
    return f"{value:,.{digits}f} in flight" if concurrency else f"{value:,.{digits}f}/s"


Record = Header | Tick | Event | Datapoint | EndpointState | ScalingActivity | Footer
RECORD_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (Header, Tick, Event, Datapoint, EndpointState, ScalingActivity, Footer)
}
_FIELDS = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in RECORD_TYPES.items()}


def to_dict(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"type": record.TYPE}
    for f in dataclasses.fields(record):
        out[f.name] = getattr(record, f.name)
    return out


def record_from_dict(data: dict[str, Any]) -> Record:
    """Decode one record; unknown fields (from a newer minor writer) are ignored."""
    kind = data.get("type")
    cls = RECORD_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown record type {kind!r}")
    known = _FIELDS[kind]  # type: ignore[index]
    return cls(**{k: v for k, v in data.items() if k in known})

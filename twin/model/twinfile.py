"""The twin file (``twin.yml``): one instance's fitted parameters, field by field with their source.

Each field is ``{value: ..., recording: PATH, seconds: [FROM, TO], how: TEXT}``: the value and
which recording and seconds it was fitted from (a field set by hand says so in ``how``). The
file also keeps, per fitted step, the measured and modelled p50, p99 and error share, so it
says how well the model reproduces what it was fitted on. A field missing or of the wrong kind
is a ``TwinError`` naming the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.config import InstanceProfile, SandboxConfig, Timings

TWIN_FORMAT = 1

# name -> (kind, what it is); every field is required in a twin file.
FIELDS: dict[str, tuple[type, str]] = {
    "instance_type": (str, "the instance type (prices, the sandbox's profile)"),
    "service_time_ms": (float, "mean client service time of one request at low load"),
    "service_jitter_ms": (float, "standard deviation of that service time"),
    "model_latency_ms": (float, "mean ModelLatency at low load (the part inside the instance)"),
    "workers": (int, "requests one instance serves in parallel"),
    "capacity_rps": (float, "requests per second one instance sustains"),
    "queue_bound": (int, "requests that may wait on one instance before it answers 503"),
    "provisioning_delay_s": (float, "from a scale-out starting to the new instance serving"),
    "publication_delay_s": (float, "from a CloudWatch period's end to its datapoint"),
    "period_s": (float, "the standard metrics' period (SageMaker: 60)"),
}
# Not fitted (a find-capacity run never removes an instance); defaults are the sandbox's.
OPTIONAL: dict[str, float] = {"deprovisioning_delay_s": 10.0, "high_resolution_s": 10.0,
                              "default_cooldown_s": 300.0}
# All four or none: an instance whose capacity alternates between two stretches (Stretches).
STRETCH_FIELDS: dict[str, str] = {
    "fast_capacity_rps": "requests per second one instance serves in its fast stretches",
    "slow_capacity_rps": "requests per second one instance serves in its slow stretches",
    "fast_stretch_s": "mean length of a fast stretch, seconds",
    "slow_stretch_s": "mean length of a slow stretch, seconds",
}


@dataclass(frozen=True, slots=True)
class Stretches:
    """An instance whose capacity is not one number: it serves ``fast_rps`` for stretches of
    ``fast_s`` seconds on average, then ``slow_rps`` for ``slow_s`` (each stretch's length
    drawn at random, so a stretch ends in any second with probability 1 / its mean). A CPU-bound
    server on a host whose cores are shared does this (docs/twin.md, "A server nobody here
    wrote")."""

    fast_rps: float
    slow_rps: float
    fast_s: float
    slow_s: float

    @property
    def slow_share(self) -> float:
        """The long-run share of seconds spent slow."""
        return self.slow_s / (self.fast_s + self.slow_s)

    @property
    def mean_rps(self) -> float:
        return self.fast_rps * (1.0 - self.slow_share) + self.slow_rps * self.slow_share


class TwinError(Exception):
    """A twin file that cannot be used: the message names the file and the field."""


@dataclass
class Twin:
    """One instance of the endpoint as fitted; ``sources`` says where each value came from."""

    instance_type: str
    service_time_ms: float
    service_jitter_ms: float
    model_latency_ms: float
    workers: int
    capacity_rps: float
    queue_bound: int
    provisioning_delay_s: float
    publication_delay_s: float
    period_s: float
    deprovisioning_delay_s: float = 10.0
    high_resolution_s: float = 10.0
    default_cooldown_s: float = 300.0
    # (probability %, ms) of the client service time at low load; empty: the normal
    # distribution of service_time_ms and service_jitter_ms.
    service_quantiles_ms: list[tuple[float, float]] = field(default_factory=list)
    # None: one capacity, capacity_rps, all the time.
    stretches: Stretches | None = None
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)  # measured vs modelled
    notes: list[str] = field(default_factory=list)
    path: str | None = None

    @property
    def overhead_ms(self) -> float:
        """Client service time outside the instance (network, the front end)."""
        return max(self.service_time_ms - self.model_latency_ms, 0.0)

    @property
    def summary(self) -> str:
        """The instance in a few words: its type and capacity (and its stretches, if any)."""
        text = f"{self.instance_type}, {self.capacity_rps:g} req/s per instance"
        if self.stretches is not None:
            text += (f", in stretches of {self.stretches.fast_rps:.0f} and "
                     f"{self.stretches.slow_rps:.0f} req/s")
        return text

    @property
    def live_caveat(self) -> str | None:
        """What a live sandbox serving this twin leaves out, for the user (None: nothing)."""
        if self.stretches is None:
            return None
        return (f"the live sandbox serves one capacity, {self.capacity_rps:.0f} req/s; the "
                f"twin's fast and slow stretches ({self.stretches.fast_rps:.0f} and "
                f"{self.stretches.slow_rps:.0f} req/s) are served in virtual time only "
                "(what-if)")

    def sandbox_config(self, **changes: Any) -> SandboxConfig:
        """A sandbox that serves like this twin: its instance profile and timings."""
        profile = InstanceProfile(
            instance_type=self.instance_type, workers=self.workers,
            service_time_ms=self.workers * 1000.0 / self.capacity_rps,
            jitter_ms=self.service_jitter_ms, queue_bound=self.queue_bound)
        timings = Timings(period_s=self.period_s, publication_delay_s=self.publication_delay_s,
                          provisioning_delay_s=self.provisioning_delay_s,
                          deprovisioning_delay_s=self.deprovisioning_delay_s,
                          default_cooldown_s=self.default_cooldown_s,
                          high_resolution_s=self.high_resolution_s)
        return SandboxConfig(profile=profile, timings=timings).replace(**changes)

    @classmethod
    def from_sandbox(cls, config: SandboxConfig, overhead_ms: float = 0.0) -> Twin:
        """The twin a sandbox configuration is, exactly (for tests and comparisons)."""
        p, t = config.profile, config.timings
        return cls(p.instance_type, p.service_time_ms + overhead_ms, p.jitter_ms,
                   p.service_time_ms, p.workers, p.capacity_rps, p.queue_bound,
                   t.provisioning_delay_s, t.publication_delay_s, t.period_s,
                   t.deprovisioning_delay_s, t.high_resolution_s, t.default_cooldown_s,
                   sources={name: {"how": "the sandbox's configuration"} for name in FIELDS})


def save_twin(twin: Twin, path: str | Path) -> None:
    fields: dict[str, Any] = {}
    for name in [*FIELDS, *OPTIONAL]:
        value = getattr(twin, name)
        fields[name] = {"value": round(value, 4) if isinstance(value, float) else value,
                        **twin.sources.get(name, {})}
    if twin.stretches is not None:
        st = twin.stretches
        for name, value in zip(STRETCH_FIELDS, (st.fast_rps, st.slow_rps, st.fast_s, st.slow_s),
                               strict=True):
            fields[name] = {"value": round(value, 4), **twin.sources.get(name, {})}
    if twin.service_quantiles_ms:
        fields["service_quantiles_ms"] = {
            "value": [[p, round(v, 3)] for p, v in twin.service_quantiles_ms],
            **twin.sources.get("service_quantiles_ms", {})}
    document = {"twin_format": TWIN_FORMAT, "fields": fields, "steps": twin.steps,
                "notes": twin.notes}
    text = ("# loadwatch twin: one instance of the endpoint, fitted from recordings.\n"
            "# Each field says which recording and seconds it came from; `steps` compares\n"
            "# the recording with the model, step by step. See docs/twin.md.\n")
    Path(path).write_text(text + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def load_twin(path: str | Path) -> Twin:
    """Read a twin file; a missing or malformed field raises TwinError naming it."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TwinError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise TwinError(f"{path}{where}: not YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(document, dict) or not isinstance(document.get("fields"), dict):
        raise TwinError(f"{path}: fields: missing (not a twin file; make one with "
                        "`loadwatch twin RECORDING -o twin.yml`)")
    fields = document["fields"]
    values: dict[str, Any] = {}
    sources: dict[str, dict[str, Any]] = {}
    for name, (kind, what) in FIELDS.items():
        values[name] = _value(path, fields, name, kind, what, required=True)
    for name, default in OPTIONAL.items():
        found = _value(path, fields, name, float, name, required=False)
        values[name] = default if found is None else found
    values["service_quantiles_ms"] = _quantiles(path, fields.get("service_quantiles_ms"))
    values["stretches"] = _stretches(path, fields)
    for name in [*values, *STRETCH_FIELDS]:
        entry = fields.get(name)
        if isinstance(entry, dict):
            sources[name] = {k: v for k, v in entry.items() if k != "value"}
    twin = Twin(**values, sources=sources, steps=list(document.get("steps") or []),
                notes=list(document.get("notes") or []), path=str(path))
    for name in ("workers", "capacity_rps", "service_time_ms", "period_s"):
        if getattr(twin, name) <= 0:
            raise TwinError(f"{path}: fields.{name}: must be positive, not {getattr(twin, name)}")
    return twin


def _stretches(path: Path, fields: dict[str, Any]) -> Stretches | None:
    given = [name for name in STRETCH_FIELDS if fields.get(name) is not None]
    if not given:
        return None
    values = [_value(path, fields, name, float, what, required=True)
              for name, what in STRETCH_FIELDS.items()]
    for name, value in zip(STRETCH_FIELDS, values, strict=True):
        if value <= 0:
            raise TwinError(f"{path}: fields.{name}: must be positive, not {value}")
    return Stretches(*values)


def _quantiles(path: Path, entry: Any) -> list[tuple[float, float]]:
    if entry is None:
        return []
    value = entry.get("value") if isinstance(entry, dict) else entry
    try:
        points = [(float(p), float(v)) for p, v in value]
    except (TypeError, ValueError):
        raise TwinError(f"{path}: fields.service_quantiles_ms.value: expected a list of "
                        "[percent, ms] pairs") from None
    if len(points) < 2 or points != sorted(points) or points[0][0] != 0 or points[-1][0] != 100:
        raise TwinError(f"{path}: fields.service_quantiles_ms.value: expected [percent, ms] "
                        "pairs from 0 to 100, both ascending")
    return points


def _value(path: Path, fields: dict[str, Any], name: str, kind: type, what: str,
           required: bool) -> Any:
    entry = fields.get(name)
    if entry is None:
        if required:
            raise TwinError(f"{path}: fields.{name}: missing ({what})")
        return None
    value = entry.get("value") if isinstance(entry, dict) else entry
    if value is None:
        raise TwinError(f"{path}: fields.{name}.value: missing ({what})")
    if kind is str:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TwinError(f"{path}: fields.{name}.value: expected a number, got {value!r}")
    if kind is int:
        if value != int(value):
            raise TwinError(f"{path}: fields.{name}.value: expected a whole number, got {value}")
        return int(value)
    return float(value)

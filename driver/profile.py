"""Load profiles: YAML that accepts the Artillery test-script subset, plus loadwatch sections.

A profile is read once, fully validated, and turned into a ``Profile``: phases, requests ready
to render, ensure thresholds and the loadwatch sections (``load``, ``sagemaker``, ``scaling``,
``metrics``). Every problem is reported as ``file:line: field: what is wrong``; nothing is sent
from a profile that has one. Keys match case-insensitively (Artillery scripts in the wild write
``Phases:`` and ``Ensure:``).
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import yaml

from driver import yamlsource
from driver.schedule import Phase, RateFunction
from driver.yamlsource import YList, YMap
from metrics.ensure import LATENCY_KEYS
from metrics.redact import REDACTED, is_secret_name

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_ENV = re.compile(r"^\$env\.([A-Za-z_][A-Za-z0-9_]*)$")
_PROCESS_ENV = re.compile(r"^\$processEnvironment\.([A-Za-z_][A-Za-z0-9_]*)$")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?!s))?\s*"
                       r"(?:(\d+(?:\.\d+)?)\s*s)?\s*(?:(\d+(?:\.\d+)?)\s*ms)?\s*$")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ProfileError(Exception):
    """A profile that cannot be run; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- sections -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How the driver sends load: top-level ``load:``, and Artillery's ``config.http``."""

    workers: int = 1
    arrivals: str = "even"  # even | poisson
    timeout: float = 30.0  # seconds for one request
    connections: int = 256  # per worker
    max_in_flight: int = 2048  # per worker; due requests beyond it are counted as not sent
    late_ms: float = 10.0  # a send this far behind its intended time counts as late


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


@dataclass(frozen=True, slots=True)
class ScalingOptions:
    min: int = 1
    max: int = 4
    target: float = 25000.0  # invocations per instance per minute
    scale_in_cooldown: float = 300.0
    scale_out_cooldown: float = 300.0
    disable_scale_in: bool = False
    policy_name: str = "loadwatch-target-tracking"
    disable_mode: str = "suspend"  # suspend | delete
    enabled: bool | None = None  # None: leave as found at start; True/False: set at start


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
    target_problem: Problem | None = None  # set when config.target is a placeholder
    secrets: set[str] = field(default_factory=set)
    sanitized: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases)

    @property
    def requests(self) -> float:
        return sum(p.requests for p in self.phases)

    @property
    def uses_sandbox(self) -> bool:
        return (self.target is None and self.target_problem is None
                and (self.sagemaker is None or self.sagemaker.endpoint is None))

    def check_runnable(self) -> None:
        """Raise ProfileError if the profile is valid but cannot send load as it stands."""
        if self.target_problem is not None:
            raise ProfileError([self.target_problem])

    def rate_function(self) -> RateFunction:
        return RateFunction.from_phases(self.phases)

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


# --- loading ------------------------------------------------------------------------------


class _Context:
    def __init__(self, file: str, base_dir: Path, environ: Mapping[str, str]) -> None:
        self.file = file
        self.base_dir = base_dir
        self.environ = environ
        self.problems: list[Problem] = []
        self.secrets: set[str] = set()

    def error(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, where, message))

    def fields(
        self, mapping: Any, where: str, line: int, allowed: Iterable[str]
    ) -> dict[str, tuple[Any, int]]:
        """The keys of a mapping matched case-insensitively against ``allowed``."""
        if not isinstance(mapping, dict):
            self.error(line, where, f"expected a mapping, got {_kind(mapping)}")
            return {}
        canonical = {name.lower(): name for name in allowed}
        found: dict[str, tuple[Any, int]] = {}
        key_lines = getattr(mapping, "key_lines", {})
        for key, value in mapping.items():
            key_line = key_lines.get(key, line)
            name = canonical.get(str(key).lower())
            label = f"{where}.{key}" if where else str(key)
            if name is None:
                hint = difflib.get_close_matches(str(key).lower(), list(canonical), n=1)
                known = f"; did you mean {canonical[hint[0]]!r}?" if hint else (
                    f"; known keys: {', '.join(sorted(canonical.values()))}")
                self.error(key_line, label, f"unknown key{known}")
                continue
            if name in found:
                self.error(key_line, label, f"given twice (keys match case-insensitively, "
                                            f"line {found[name][1]} has it too)")
                continue
            found[name] = (value, key_line)
        return found

    def number(self, value: Any, line: int, where: str, minimum: float = 0.0,
               integer: bool = False, allow_equal: bool = True) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(line, where, f"expected a number, got {_kind(value)}")
            return None
        if not math.isfinite(value):
            self.error(line, where, "must be a finite number")
            return None
        if integer and value != int(value):
            self.error(line, where, f"expected a whole number, got {value}")
            return None
        if value < minimum or (not allow_equal and value == minimum):
            relation = ">=" if allow_equal else ">"
            self.error(line, where, f"must be {relation} {minimum:g}, got {value}")
            return None
        return int(value) if integer else float(value)

    def duration(self, value: Any, line: int, where: str) -> float | None:
        if isinstance(value, bool):
            self.error(line, where, f"expected seconds or a string like 90s, 10m, 2h, got {value}")
            return None
        if isinstance(value, int | float):
            return self.number(value, line, where, 0.0, allow_equal=False)
        if isinstance(value, str):
            match = _DURATION.match(value)
            if match and any(match.groups()):
                h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
                seconds = h * 3600 + m * 60 + s + ms / 1000
                if seconds > 0:
                    return seconds
        self.error(line, where, f"expected seconds or a string like 90s, 10m, 2h, got {value!r}")
        return None

    def string(self, value: Any, line: int, where: str) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.error(line, where, f"expected a string, got {_kind(value)}")
        return None

    def boolean(self, value: Any, line: int, where: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.error(line, where, f"expected true or false, got {_kind(value)}")
        return None

    def choice(self, value: Any, line: int, where: str, choices: tuple[str, ...]) -> str | None:
        if isinstance(value, str) and value.lower() in choices:
            return value.lower()
        self.error(line, where, f"expected one of {', '.join(choices)}, got {value!r}")
        return None

    def template(self, text: str, line: int, where: str, fields: list[str],
                 allow_fields: bool = True) -> Template:
        """Resolve ``{{ $env.NAME }}`` now; keep ``{{ field }}`` holes for payload rows."""
        parts: list[str | int] = []
        position = 0
        for match in _TEMPLATE.finditer(text):
            parts.append(text[position:match.start()])
            position = match.end()
            expression = match.group(1)
            env = _ENV.match(expression) or _PROCESS_ENV.match(expression)
            if env:
                name = env.group(1)
                if name not in self.environ:
                    self.error(line, where, f"environment variable {name} is not set "
                                            f"(referenced as {match.group(0)})")
                    continue
                value = self.environ[name]
                self.secrets.add(value)
                parts.append(value)
            elif allow_fields and expression in fields:
                parts.append(fields.index(expression))
            elif allow_fields and re.fullmatch(r"[A-Za-z_][\w-]*", expression):
                known = f" (payload fields: {', '.join(fields)})" if fields else (
                    " (no payload fields are defined)")
                self.error(line, where, f"unknown variable {{{{ {expression} }}}}{known}")
            else:
                self.error(line, where, f"unsupported template {match.group(0)}; loadwatch "
                                        "supports {{ $env.NAME }}"
                                        + (" and payload fields" if allow_fields else ""))
        parts.append(text[position:])
        merged: list[str | int] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part != "":
                merged.append(part)
        return Template(text, merged)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _line(container: Any, key: Any, default: int) -> int:
    if isinstance(container, YMap):
        return container.key_lines.get(key, default)
    if isinstance(container, YList) and isinstance(key, int) and key < len(container.item_lines):
        return container.item_lines[key]
    return default


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def load_profile(path: str | Path, environ: Mapping[str, str] | None = None,
                 target_override: str | None = None) -> Profile:
    """Read and validate a profile file; raises ProfileError naming every problem found."""
    path = Path(path)
    try:
        text = yamlsource.read_text(path)
    except OSError as exc:
        raise ProfileError([Problem(str(path), 0, "file", f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise ProfileError([Problem(str(path), 0, "file", "not UTF-8 text")]) from exc
    return parse_profile(text, str(path), path.parent, environ, target_override)


def parse_profile(
    text: str,
    file: str = "<profile>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    target_override: str | None = None,
) -> Profile:
    ctx = _Context(file, base_dir or Path.cwd(), os.environ if environ is None else environ)
    try:
        data = yamlsource.load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ProfileError([Problem(file, line, "yaml", str(exc.problem or exc))]) from exc
    except yaml.YAMLError as exc:
        raise ProfileError([Problem(file, 0, "yaml", str(exc))]) from exc
    if data is None:
        raise ProfileError([Problem(file, 1, "profile", "the file is empty")])
    top = ctx.fields(data, "", 1, ("config", "scenarios", "load", "sagemaker", "scaling",
                                   "metrics"))
    if not isinstance(data, dict):
        raise ProfileError(ctx.problems)
    config_value, config_line = top.get("config", (None, 1))
    if "config" not in top:
        ctx.error(1, "config", "missing (the profile needs config.phases)")
    config = ctx.fields(config_value, "config", config_line, (
        "target", "phases", "ensure", "payload", "defaults", "http", "environments",
    )) if config_value is not None or "config" in top else {}
    if "environments" in config:
        ctx.error(config["environments"][1], "config.environments",
                  "not supported: keep one profile per environment")

    target, target_problem = None, None
    if target_override is not None:
        target = target_override
        if not _is_http_url(target):
            ctx.error(0, "--target", f"expected an http:// or https:// URL, got {target!r}")
    elif "target" in config:
        value, line = config["target"]
        text_target = ctx.string(value, line, "config.target")
        if text_target:
            target = ctx.template(text_target, line, "config.target", [], allow_fields=False)\
                .render(None)
            if not _is_http_url(target):
                # A placeholder (the blog's "<your API Gateway endpoint here>") is a valid
                # profile that cannot run yet: validate warns, run refuses.
                target_problem = Problem(
                    file, line, "config.target",
                    f"expected an http:// or https:// URL, got {text_target!r} "
                    "(edit the profile or pass --target URL)")

    phases = _phases(ctx, config)
    ensure = _ensure(ctx, config)
    payload = _payload(ctx, config)
    fields = payload.fields if payload else []
    default_headers = _default_headers(ctx, config, fields)
    load = _load_options(ctx, top, config)
    sagemaker = _sagemaker(ctx, top)
    scaling = _scaling(ctx, top)
    metrics = _metrics(ctx, top)
    scenarios = _scenarios(ctx, top, fields, default_headers, needs_url=target is not None)

    if target is not None and sagemaker is not None and sagemaker.endpoint is not None:
        ctx.error(config.get("target", (None, 0))[1], "config.target",
                  "give either config.target (HTTP) or sagemaker.endpoint, not both")
    if ctx.problems:
        raise ProfileError(ctx.problems)
    return Profile(
        path=Path(file) if file != "<profile>" else None,
        target=target,
        phases=phases,
        scenarios=scenarios,
        ensure=ensure,
        payload=payload,
        load=load,
        sagemaker=sagemaker,
        scaling=scaling,
        metrics=metrics,
        target_problem=target_problem,
        secrets=ctx.secrets,
        sanitized=sanitize(data),
    )


def _phases(ctx: _Context, config: dict[str, tuple[Any, int]]) -> list[Phase]:
    if "phases" not in config:
        if config:
            ctx.error(1, "config.phases", "missing: a profile needs at least one phase")
        return []
    value, line = config["phases"]
    if not isinstance(value, list) or not value:
        ctx.error(line, "config.phases", "expected a non-empty list of phases")
        return []
    phases = []
    for i, item in enumerate(value):
        where = f"config.phases[{i}]"
        item_line = _line(value, i, line)
        keys = ctx.fields(item, where, item_line, (
            "duration", "arrivalRate", "rampTo", "arrivalCount", "pause", "name", "maxVusers",
        ))
        if not keys:
            if isinstance(item, dict):
                ctx.error(item_line, where, "empty phase: give duration and arrivalRate, or pause")
            continue
        name = f"phase {i + 1}"
        if "name" in keys:
            name = ctx.string(keys["name"][0], keys["name"][1], f"{where}.name") or name
        if "maxVusers" in keys:
            ctx.error(keys["maxVusers"][1], f"{where}.maxVusers",
                      "not supported: loadwatch is an open-model tool; cap concurrency with "
                      "load.maxInFlight")
        if "pause" in keys:
            others = sorted(set(keys) - {"pause", "name"})
            if others:
                ctx.error(keys["pause"][1], where, f"a pause phase takes no {', '.join(others)}")
            seconds = ctx.duration(keys["pause"][0], keys["pause"][1], f"{where}.pause")
            if seconds:
                phases.append(Phase(name, seconds, 0.0, 0.0, pause=True))
            continue
        if "duration" not in keys:
            ctx.error(item_line, f"{where}.duration", "missing")
            continue
        duration = ctx.duration(keys["duration"][0], keys["duration"][1], f"{where}.duration")
        if "arrivalCount" in keys:
            if "arrivalRate" in keys or "rampTo" in keys:
                ctx.error(keys["arrivalCount"][1], f"{where}.arrivalCount",
                          "give arrivalCount or arrivalRate, not both")
                continue
            count = ctx.number(keys["arrivalCount"][0], keys["arrivalCount"][1],
                               f"{where}.arrivalCount")
            if duration and count is not None:
                phases.append(Phase(name, duration, count / duration, count / duration))
            continue
        if "arrivalRate" not in keys:
            ctx.error(item_line, f"{where}.arrivalRate", "missing (requests per second)")
            continue
        rate = ctx.number(keys["arrivalRate"][0], keys["arrivalRate"][1], f"{where}.arrivalRate")
        ramp_to = rate
        if "rampTo" in keys:
            ramp_to = ctx.number(keys["rampTo"][0], keys["rampTo"][1], f"{where}.rampTo")
        if duration and rate is not None and ramp_to is not None:
            phases.append(Phase(name, duration, rate, ramp_to))
    return phases


def _ensure(ctx: _Context, config: dict[str, tuple[Any, int]]) -> dict[str, float]:
    if "ensure" not in config:
        return {}
    value, line = config["ensure"]
    allowed = ("maxErrorRate", *LATENCY_KEYS, "thresholds")
    keys = ctx.fields(value, "config.ensure", line, allowed)
    out: dict[str, float] = {}
    for name, (limit, key_line) in keys.items():
        where = f"config.ensure.{name}"
        if name == "thresholds":
            if not isinstance(limit, list):
                ctx.error(key_line, where, "expected a list like - http.response_time.p99: 250")
                continue
            for i, item in enumerate(limit):
                item_line = _line(limit, i, key_line)
                if not isinstance(item, dict) or len(item) != 1:
                    ctx.error(item_line, f"{where}[{i}]", "expected one metric: limit pair")
                    continue
                ((metric, bound),) = item.items()
                stat = str(metric).removeprefix("http.response_time.")
                if str(metric) == stat or stat not in LATENCY_KEYS:
                    ctx.error(item_line, f"{where}[{i}]",
                              f"unsupported threshold {metric!r}; use http.response_time.p99 "
                              "and friends")
                    continue
                number = ctx.number(bound, item_line, f"{where}[{i}].{metric}")
                if number is not None:
                    out[stat] = number
            continue
        number = ctx.number(limit, key_line, where)
        if number is not None:
            if name == "maxErrorRate" and number > 100:
                ctx.error(key_line, where, f"is a percentage (0 to 100), got {number:g}")
                continue
            out[name] = number
    return out


def _payload(ctx: _Context, config: dict[str, tuple[Any, int]]) -> Payload | None:
    if "payload" not in config:
        return None
    value, line = config["payload"]
    if isinstance(value, list):
        if len(value) != 1:
            ctx.error(line, "config.payload", "loadwatch reads one payload file")
            return None
        line = _line(value, 0, line)
        value = value[0]
    keys = ctx.fields(value, "config.payload", line,
                      ("path", "fields", "order", "skipHeader", "delimiter", "cast", "loadAll"))
    if "path" not in keys:
        ctx.error(line, "config.payload.path", "missing (a CSV file, relative to the profile)")
        return None
    rel = ctx.string(*keys["path"], "config.payload.path")
    if rel is None:
        return None
    path = (ctx.base_dir / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
    order = "random"
    if "order" in keys:
        order = ctx.choice(*keys["order"], "config.payload.order", ("random", "sequence")) \
            or "random"
    skip_header = False
    if "skipHeader" in keys:
        skip_header = bool(ctx.boolean(*keys["skipHeader"], "config.payload.skipHeader"))
    delimiter = ","
    if "delimiter" in keys:
        delimiter = ctx.string(*keys["delimiter"], "config.payload.delimiter") or ","
        if len(delimiter) != 1:
            ctx.error(keys["delimiter"][1], "config.payload.delimiter", "must be one character")
            delimiter = ","
    fields: list[str] = []
    if "fields" in keys:
        raw, fields_line = keys["fields"]
        if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw) or not raw:
            ctx.error(fields_line, "config.payload.fields", "expected a list of names")
        else:
            fields = list(raw)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle, delimiter=delimiter) if row]
    except OSError as exc:
        ctx.error(keys["path"][1], "config.payload.path", f"cannot read {path}: {exc.strerror}")
        return None
    if skip_header and rows:
        rows = rows[1:]
    if not rows:
        ctx.error(keys["path"][1], "config.payload.path", f"{path} has no data rows")
        return None
    if not fields:
        fields = [f"column{i + 1}" for i in range(len(rows[0]))]
    short = next((i for i, row in enumerate(rows) if len(row) < len(fields)), None)
    if short is not None:
        ctx.error(keys["path"][1], "config.payload.path",
                  f"{path} row {short + 1 + skip_header} has {len(rows[short])} columns, "
                  f"fields name {len(fields)}")
        return None
    return Payload(path, fields, rows, order)


def _default_headers(ctx: _Context, config: dict[str, tuple[Any, int]],
                     fields: list[str]) -> dict[str, Template]:
    if "defaults" not in config:
        return {}
    value, line = config["defaults"]
    keys = ctx.fields(value, "config.defaults", line, ("headers",))
    if "headers" not in keys:
        return {}
    return _headers(ctx, *keys["headers"], "config.defaults.headers", fields)


def _headers(ctx: _Context, value: Any, line: int, where: str,
             fields: list[str]) -> dict[str, Template]:
    if not isinstance(value, dict):
        ctx.error(line, where, f"expected a mapping of header names to values, got {_kind(value)}")
        return {}
    headers = {}
    for name, raw in value.items():
        key_line = _line(value, name, line)
        text = ctx.string(raw, key_line, f"{where}.{name}")
        if text is not None:
            headers[str(name)] = ctx.template(text, key_line, f"{where}.{name}", fields)
            if is_secret_name(name):
                ctx.secrets.add(headers[str(name)].render([""] * len(fields)))
    return headers


def _scenarios(ctx: _Context, top: dict[str, tuple[Any, int]], fields: list[str],
               default_headers: dict[str, Template], needs_url: bool) -> list[Scenario]:
    if "scenarios" not in top:
        if "config" in top:
            ctx.error(1, "scenarios", "missing: say what each arrival sends")
        return []
    value, line = top["scenarios"]
    if not isinstance(value, list) or not value:
        ctx.error(line, "scenarios", "expected a non-empty list")
        return []
    scenarios = []
    for i, item in enumerate(value):
        where = f"scenarios[{i}]"
        item_line = _line(value, i, line)
        keys = ctx.fields(item, where, item_line, ("flow", "name", "weight"))
        name = f"scenario {i + 1}"
        if "name" in keys:
            name = ctx.string(*keys["name"], f"{where}.name") or name
        weight = 1.0
        if "weight" in keys:
            weight = ctx.number(*keys["weight"], f"{where}.weight", 0.0, allow_equal=False) or 1.0
        if "flow" not in keys:
            ctx.error(item_line, f"{where}.flow", "missing")
            continue
        flow, flow_line = keys["flow"]
        if not isinstance(flow, list) or not flow:
            ctx.error(flow_line, f"{where}.flow", "expected a list with one request")
            continue
        if len(flow) != 1:
            ctx.error(flow_line, f"{where}.flow",
                      f"has {len(flow)} steps; loadwatch sends one request per arrival (open "
                      "model, rates in requests per second): make each request its own "
                      "scenario and give them weights")
            continue
        step, step_line = flow[0], _line(flow, 0, flow_line)
        step_keys = ctx.fields(step, f"{where}.flow[0]", step_line, HTTP_METHODS)
        if len(step_keys) != 1:
            if step_keys:
                ctx.error(step_line, f"{where}.flow[0]", "expected one request (get, post, ...)")
            continue
        ((method, (spec, spec_line)),) = step_keys.items()
        request = _request(ctx, method, spec, spec_line, f"{where}.flow[0].{method}", fields,
                           default_headers, needs_url)
        if request:
            scenarios.append(Scenario(name, weight, request))
    return scenarios


def _request(ctx: _Context, method: str, spec: Any, line: int, where: str, fields: list[str],
             default_headers: dict[str, Template], needs_url: bool) -> RequestSpec | None:
    keys = ctx.fields(spec, where, line, ("url", "headers", "body", "json", "qs", "name"))
    if "url" not in keys and needs_url:
        ctx.error(line, f"{where}.url", "missing (a path under config.target, or a full URL)")
        return None
    url = Template("", [])
    if "url" in keys:
        text = ctx.string(*keys["url"], f"{where}.url")
        if text is not None:
            url = ctx.template(text, keys["url"][1], f"{where}.url", fields)
    headers = dict(default_headers)
    if "headers" in keys:
        headers.update(_headers(ctx, *keys["headers"], f"{where}.headers", fields))
    body = None
    if "body" in keys and "json" in keys:
        ctx.error(keys["json"][1], f"{where}.json", "give body or json, not both")
    elif "body" in keys:
        text = ctx.string(*keys["body"], f"{where}.body")
        if text is not None:
            body = ctx.template(text, keys["body"][1], f"{where}.body", fields)
    elif "json" in keys:
        raw, json_line = keys["json"]
        text = json.dumps(raw, separators=(",", ":"))
        body = ctx.template(text, json_line, f"{where}.json", fields)
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = Template("application/json", ["application/json"])
    query = {}
    if "qs" in keys:
        raw, qs_line = keys["qs"]
        if not isinstance(raw, dict):
            ctx.error(qs_line, f"{where}.qs", "expected a mapping")
        else:
            for name, item in raw.items():
                text = ctx.string(item, _line(raw, name, qs_line), f"{where}.qs.{name}")
                if text is not None:
                    query[str(name)] = ctx.template(text, qs_line, f"{where}.qs.{name}", fields)
                    if is_secret_name(name):
                        ctx.secrets.add(query[str(name)].render([""] * len(fields)))
    return RequestSpec(method.upper(), url, headers, body, query)


def _load_options(ctx: _Context, top: dict[str, tuple[Any, int]],
                  config: dict[str, tuple[Any, int]]) -> LoadOptions:
    values: dict[str, Any] = {}
    if "http" in config:
        value, line = config["http"]
        keys = ctx.fields(value, "config.http", line, ("timeout", "pool", "maxSockets"))
        if "timeout" in keys:
            values["timeout"] = ctx.duration(*keys["timeout"], "config.http.timeout")
        for name in ("pool", "maxSockets"):
            if name in keys:
                values["connections"] = ctx.number(*keys[name], f"config.http.{name}", 1,
                                                   integer=True)
    if "load" in top:
        value, line = top["load"]
        keys = ctx.fields(value, "load", line, ("workers", "arrivals", "timeout", "connections",
                                                "maxInFlight", "lateMs"))
        if "workers" in keys:
            values["workers"] = ctx.number(*keys["workers"], "load.workers", 1, integer=True)
        if "arrivals" in keys:
            values["arrivals"] = ctx.choice(*keys["arrivals"], "load.arrivals",
                                            ("even", "poisson"))
        if "timeout" in keys:
            values["timeout"] = ctx.duration(*keys["timeout"], "load.timeout")
        if "connections" in keys:
            values["connections"] = ctx.number(*keys["connections"], "load.connections", 1,
                                               integer=True)
        if "maxInFlight" in keys:
            values["max_in_flight"] = ctx.number(*keys["maxInFlight"], "load.maxInFlight", 1,
                                                 integer=True)
        if "lateMs" in keys:
            values["late_ms"] = ctx.number(*keys["lateMs"], "load.lateMs", 0.0)
    return LoadOptions(**{k: v for k, v in values.items() if v is not None})


def _sagemaker(ctx: _Context, top: dict[str, tuple[Any, int]]) -> SageMakerOptions | None:
    if "sagemaker" not in top:
        return None
    value, line = top["sagemaker"]
    names = {"endpoint": "endpoint", "variant": "variant", "region": "region",
             "profile": "aws_profile", "endpointUrl": "endpoint_url",
             "contentType": "content_type", "accept": "accept",
             "customAttributes": "custom_attributes", "targetVariant": "target_variant"}
    keys = ctx.fields(value if value is not None else {}, "sagemaker", line, names)
    values = {}
    for name, (raw, key_line) in keys.items():
        text = ctx.string(raw, key_line, f"sagemaker.{name}")
        if text is not None:
            values[names[name]] = ctx.template(text, key_line, f"sagemaker.{name}", [],
                                               allow_fields=False).render(None)
    if "endpoint_url" in values:
        parts = urlsplit(values["endpoint_url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            ctx.error(keys["endpointUrl"][1], "sagemaker.endpointUrl", "expected an http(s) URL")
    return SageMakerOptions(**values)


def _scaling(ctx: _Context, top: dict[str, tuple[Any, int]]) -> ScalingOptions | None:
    if "scaling" not in top:
        return None
    value, line = top["scaling"]
    keys = ctx.fields(value, "scaling", line, (
        "min", "max", "target", "scaleInCooldown", "scaleOutCooldown", "disableScaleIn",
        "policyName", "disableMode", "enabled",
    ))
    values: dict[str, Any] = {}
    if "min" in keys:
        values["min"] = ctx.number(*keys["min"], "scaling.min", 0, integer=True)
    if "max" in keys:
        values["max"] = ctx.number(*keys["max"], "scaling.max", 1, integer=True)
    if "target" in keys:
        values["target"] = ctx.number(*keys["target"], "scaling.target", 0, allow_equal=False)
    for name, attr in (("scaleInCooldown", "scale_in_cooldown"),
                       ("scaleOutCooldown", "scale_out_cooldown")):
        if name in keys:
            values[attr] = ctx.duration(*keys[name], f"scaling.{name}") if keys[name][0] != 0 \
                else 0.0
    for name, attr in (("disableScaleIn", "disable_scale_in"), ("enabled", "enabled")):
        if name in keys:
            values[attr] = ctx.boolean(*keys[name], f"scaling.{name}")
    if "policyName" in keys:
        values["policy_name"] = ctx.string(*keys["policyName"], "scaling.policyName")
    if "disableMode" in keys:
        values["disable_mode"] = ctx.choice(*keys["disableMode"], "scaling.disableMode",
                                            ("suspend", "delete"))
    options = ScalingOptions(**{k: v for k, v in values.items() if v is not None})
    if options.min > options.max:
        ctx.error(keys.get("min", (None, line))[1], "scaling.min",
                  f"min {options.min} is above max {options.max}")
    return options


def _metrics(ctx: _Context, top: dict[str, tuple[Any, int]]) -> MetricsOptions:
    if "metrics" not in top:
        return MetricsOptions()
    value, line = top["metrics"]
    keys = ctx.fields(value, "metrics", line,
                      ("enabled", "period", "pollInterval", "endpointInterval"))
    values: dict[str, Any] = {}
    if "enabled" in keys:
        values["enabled"] = ctx.boolean(*keys["enabled"], "metrics.enabled")
    if "period" in keys:
        period = ctx.duration(*keys["period"], "metrics.period")
        if period is not None:
            if period < 60 and period not in (1, 5, 10, 20, 30):
                ctx.error(keys["period"][1], "metrics.period",
                          "CloudWatch periods are 1, 5, 10, 20, 30 s or a multiple of 60 s")
            elif period >= 60 and period % 60:
                ctx.error(keys["period"][1], "metrics.period",
                          "CloudWatch periods of a minute or more are multiples of 60 s")
            else:
                values["period"] = int(period)
    if "pollInterval" in keys:
        values["poll_interval"] = ctx.duration(*keys["pollInterval"], "metrics.pollInterval")
    if "endpointInterval" in keys:
        values["endpoint_interval"] = ctx.duration(*keys["endpointInterval"],
                                                   "metrics.endpointInterval")
    return MetricsOptions(**{k: v for k, v in values.items() if v is not None})


def sanitize(data: Any, names_secret: bool = False) -> Any:
    """The profile as plain data for the recording, with literal secrets redacted.

    ``{{ $env.NAME }}`` templates are kept (they are names, not values); a literal value of a
    header or query parameter whose name looks like a credential (Authorization, x-api-key,
    x-custom-token, ...: ``metrics.redact.is_secret_name``) is replaced.
    """
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if (names_secret and is_secret_name(key) and isinstance(value, str | int | float)
                    and not (isinstance(value, str) and _TEMPLATE.fullmatch(value.strip()))):
                out[str(key)] = REDACTED
            else:
                out[str(key)] = sanitize(value, str(key).lower() in ("headers", "qs"))
        return out
    if isinstance(data, list):
        return [sanitize(v) for v in data]
    if isinstance(data, str | int | float | bool) or data is None:
        return data
    return str(data)


def describe_plan(profile: Profile) -> list[dict[str, Any]]:
    """One row per phase: name, start, duration, rates and requests, for `validate` and UIs."""
    rows, start = [], 0.0
    for phase in profile.phases:
        rows.append({
            "name": phase.name,
            "start": start,
            "duration": phase.duration,
            "rate_start": 0.0 if phase.pause else phase.rate_start,
            "rate_end": 0.0 if phase.pause else phase.rate_end,
            "pause": phase.pause,
            "requests": phase.requests,
        })
        start += phase.duration
    return rows

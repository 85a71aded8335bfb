"""Load profiles: YAML that accepts the Artillery test-script subset, plus loadwatch sections.

A profile is read once, fully validated, and turned into a ``Profile``: phases, requests ready
to render, ensure thresholds and the loadwatch sections (``load``, ``sagemaker``, ``scaling``,
``metrics``). Every problem is reported as ``file:line: field: what is wrong``; nothing is sent
from a profile that has one. Keys match case-insensitively (Artillery scripts in the wild write
``Phases:`` and ``Ensure:``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from driver.profile import yamlsource
from driver.profile.engine_section import engine_options
from driver.profile.model import (
    EngineOptions,
    LoadOptions,
    MetricsOptions,
    Payload,
    Problem,
    Profile,
    ProfileError,
    RenderedRequest,
    RequestSpec,
    SageMakerOptions,
    ScalingOptions,
    Scenario,
    Template,
)
from driver.profile.options import (
    llm_load,
    llm_options,
    llm_scenario,
    load_options,
    metrics_options,
    sagemaker_load,
    sagemaker_options,
    scaling_options,
)
from driver.profile.reader import TEMPLATE, Context
from driver.profile.sandbox_section import sandbox_options
from driver.profile.sections import (
    read_default_headers,
    read_ensure,
    read_payload,
    read_phases,
    read_scenarios,
)
from driver.schedule import RateFunction
from metrics.redact import REDACTED, is_secret_name

__all__ = [
    "EngineOptions", "LoadOptions", "MetricsOptions", "Payload", "Problem", "Profile",
    "ProfileError", "RenderedRequest", "RequestSpec", "SageMakerOptions", "ScalingOptions",
    "Scenario", "Template", "describe_plan", "load_profile", "parse_profile", "sanitize",
]


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
        raise ProfileError([Problem(str(path), None, "file",
                                    f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise ProfileError([Problem(str(path), None, "file", "not UTF-8 text")]) from exc
    return parse_profile(text, str(path), path.parent, environ, target_override)


def parse_profile(
    text: str,
    file: str = "<profile>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    target_override: str | None = None,
) -> Profile:
    ctx = Context(file, base_dir or Path.cwd(), os.environ if environ is None else environ)
    try:
        data = yamlsource.load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ProfileError([Problem(file, line, "yaml", str(exc.problem or exc))]) from exc
    except yaml.YAMLError as exc:
        raise ProfileError([Problem(file, None, "yaml", str(exc))]) from exc
    if data is None:
        raise ProfileError([Problem(file, 1, "profile", "the file is empty")])
    top = ctx.fields(data, "", 1, ("config", "scenarios", "load", "sagemaker", "scaling",
                                   "metrics", "llm", "engine", "sandbox"))
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
            ctx.error(None, "--target", f"expected an http:// or https:// URL, got {target!r}")
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

    phases = read_phases(ctx, config)
    ensure = read_ensure(ctx, config)
    payload = read_payload(ctx, config)
    fields = payload.fields if payload else []
    default_headers = read_default_headers(ctx, config, fields)
    load = load_options(ctx, top, config)
    sagemaker = sagemaker_options(ctx, top)
    load = sagemaker_load(top, config, load, sagemaker)
    scaling = scaling_options(ctx, top)
    metrics = metrics_options(ctx, top)
    llm = llm_options(ctx, top, sagemaker)
    engine = engine_options(ctx, top)
    if llm is not None:
        load = llm_load(ctx, top, load)
    if llm is not None and "scenarios" not in top:
        scenarios = [llm_scenario(llm, sagemaker=target is None)]
    else:
        scenarios = read_scenarios(ctx, top, fields, default_headers,
                                   needs_url=target is not None)

    sandbox = sandbox_options(ctx, top, serves_sandbox=(
        target is None and target_problem is None
        and (sagemaker is None or sagemaker.endpoint is None)))
    if target is not None and sagemaker is not None and sagemaker.endpoint is not None:
        ctx.error(config.get("target", (None, None))[1], "config.target",
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
        llm=llm,
        engine=engine,
        sandbox=sandbox,
        target_problem=target_problem,
        secrets=ctx.secrets,
        sanitized=sanitize(data),
    )



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
                    and not (isinstance(value, str) and TEMPLATE.fullmatch(value.strip()))):
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
    rate = RateFunction.from_phases(profile.phases)
    for phase in profile.phases:
        rows.append({
            "name": phase.name,
            "start": start,
            "duration": phase.duration,
            "rate_start": 0.0 if phase.pause else phase.rate_start,
            "rate_end": 0.0 if phase.pause else phase.rate_end,
            "pause": phase.pause,
            # as the pacers send them, not the phase's own rate × duration: the two differ by
            # a fraction (a 0.001 s phase at 1 req/s sends one request)
            "requests": rate.requests_before(start + phase.duration) - rate.requests_before(start),
        })
        start += phase.duration
    return rows


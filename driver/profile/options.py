"""The loadwatch option sections (``load``, ``config.http``, ``sagemaker``, ``scaling``,
``metrics``, ``llm``): one field table each. A new option is a row here and an attribute on its
options class in ``driver.profile.model``."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from driver.profile.model import (
    LlmOptions,
    LoadOptions,
    MetricsOptions,
    Problem,
    RequestSpec,
    SageMakerOptions,
    ScalingOptions,
    Scenario,
    Template,
)
from driver.profile.reader import Context, Field, read_fields

Keys = dict[str, tuple[Any, int]]
_PROBLEM = re.compile(r"^(.*):(\d+): (.*)$")

HTTP_FIELDS = (  # Artillery's config.http
    Field("timeout", "timeout", "duration"),
    Field("pool", "connections", "int", 1),
    Field("maxSockets", "connections", "int", 1),
)
LOAD_FIELDS = (
    Field("workers", "workers", "int", 1),
    Field("arrivals", "arrivals", "choice", choices=("even", "poisson")),
    Field("timeout", "timeout", "duration"),
    Field("connections", "connections", "int", 1),
    Field("maxInFlight", "max_in_flight", "int", 1),
    Field("lateMs", "late_ms", "number", 0.0),
    Field("mode", "mode", "choice", choices=("rate", "concurrency")),
)
SAGEMAKER_FIELDS = (
    Field("endpoint", "endpoint", "env_string"),
    Field("variant", "variant", "env_string"),
    Field("region", "region", "env_string"),
    Field("profile", "aws_profile", "env_string"),
    Field("endpointUrl", "endpoint_url", "env_string"),
    Field("contentType", "content_type", "env_string"),
    Field("accept", "accept", "env_string"),
    Field("customAttributes", "custom_attributes", "env_string"),
    Field("targetVariant", "target_variant", "env_string"),
    Field("inferenceComponent", "inference_component", "env_string"),
    Field("stream", "stream", "boolean"),
)
SCALING_FIELDS = (
    Field("min", "min", "int", 0),
    Field("max", "max", "int", 1),
    # invocations/concurrency are per copy on an inference component; the *PerCopy names say
    # so explicitly (and are refused on a variant)
    Field("metric", "metric", "choice", choices=("invocations", "concurrency",
                                                 "invocations-per-copy", "concurrency-per-copy")),
    Field("target", "target", "number", 0, above=True),
    Field("scaleInCooldown", "scale_in_cooldown", "duration_or_zero"),
    Field("scaleOutCooldown", "scale_out_cooldown", "duration_or_zero"),
    Field("disableScaleIn", "disable_scale_in", "boolean"),
    Field("policyName", "policy_name", "string"),
    Field("disableMode", "disable_mode", "choice", choices=("suspend", "delete")),
    Field("enabled", "enabled", "boolean"),
    Field("scaleFromZero", "scale_from_zero", "boolean"),
)
LLM_FIELDS = (
    Field("api", "api", "choice", choices=("tgi", "chat", "completions")),
    Field("stream", "shape", "choice", choices=("openai", "tgi", "jsonl")),
    Field("model", "model", "env_string"),
    Field("prompts", "prompts", "string"),  # a JSON Lines file, relative to the profile
    Field("order", "order", "choice", choices=("sequence", "random")),
    Field("inputTokens", "input_tokens", "any"),  # a length: checked by _length
    Field("outputTokens", "output_tokens", "any"),
    Field("seed", "seed", "int", 0),
    Field("maxTokens", "max_tokens", "int", 1),
    Field("slo", "slo", "any"),  # {ttft: 500ms, tpot: 50ms}: checked by _slo
    Field("ttftTimeout", "ttft_timeout", "duration"),
    Field("ignoreEos", "ignore_eos", "boolean"),
    Field("extraBody", "extra_body", "any"),  # more request-body fields: checked by _extra_body
    Field("maxModelLen", "max_model_len", "int", 1),
)
SLO_FIELDS = (
    Field("ttft", "slo_ttft", "duration"),
    Field("tpot", "slo_tpot", "duration"),
)
METRICS_FIELDS = (
    Field("enabled", "enabled", "boolean"),
    Field("period", "period", "cloudwatch_period"),
    Field("pollInterval", "poll_interval", "duration"),
    Field("endpointInterval", "endpoint_interval", "duration"),
)


def load_options(ctx: Context, top: Keys, config: Keys) -> LoadOptions:
    """``load:``, over Artillery's ``config.http`` where both set an option."""
    values: dict[str, Any] = {}
    if "http" in config:
        value, line = config["http"]
        values.update(read_fields(ctx, value, "config.http", line, HTTP_FIELDS)[0])
    if "load" in top:
        value, line = top["load"]
        values.update(read_fields(ctx, value, "load", line, LOAD_FIELDS)[0])
    return LoadOptions(**values)


def llm_load(ctx: Context, top: Keys, load: LoadOptions) -> LoadOptions:
    """An LLM profile's load: Poisson arrivals unless ``load.arrivals`` says otherwise."""
    raw = top.get("load", ({}, 0))[0]
    given = isinstance(raw, dict) and any(str(k).lower() == "arrivals" for k in raw)
    return load if given else replace(load, arrivals="poisson")


# SageMaker gives a model container 60 s to answer InvokeEndpoint (AWS: "Amazon SageMaker AI
# endpoint ... 60 seconds" in the InvokeEndpoint reference); 5 s more for the round trip, so a
# request the endpoint would still answer is not cut short by the client.
SAGEMAKER_TIMEOUT_S = 65.0


def sagemaker_load(top: Keys, config: Keys, load: LoadOptions,
                   sagemaker: SageMakerOptions | None) -> LoadOptions:
    """A SageMaker endpoint's load: the request timeout past SageMaker's own 60 s model limit,
    unless ``load.timeout`` or ``config.http.timeout`` says otherwise."""
    if sagemaker is None or sagemaker.endpoint is None:
        return load
    for section in (top.get("load", ({}, 0))[0], config.get("http", ({}, 0))[0]):
        if isinstance(section, dict) and any(str(k).lower() == "timeout" for k in section):
            return load
    return replace(load, timeout=SAGEMAKER_TIMEOUT_S)


def sagemaker_options(ctx: Context, top: Keys) -> SageMakerOptions | None:
    if "sagemaker" not in top:
        return None
    value, line = top["sagemaker"]
    values, keys = read_fields(ctx, value if value is not None else {}, "sagemaker", line,
                               SAGEMAKER_FIELDS)
    if "endpoint_url" in values:
        parts = urlsplit(values["endpoint_url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            ctx.error(keys["endpointUrl"][1], "sagemaker.endpointUrl", "expected an http(s) URL")
    return SageMakerOptions(**values)


def scaling_options(ctx: Context, top: Keys) -> ScalingOptions | None:
    if "scaling" not in top:
        return None
    value, line = top["scaling"]
    values, keys = read_fields(ctx, value, "scaling", line, SCALING_FIELDS)
    options = ScalingOptions(**values)
    if options.metric in ("concurrency", "concurrency-per-copy") and "target" not in values:
        ctx.error(keys["metric"][1], "scaling.target",
                  "missing: with metric concurrency, the requests in flight per model to hold")
    if options.min > options.max:
        ctx.error(keys.get("min", (None, line))[1], "scaling.min",
                  f"min {options.min} is above max {options.max}")
    return options


def llm_options(ctx: Context, top: Keys, sagemaker: SageMakerOptions | None
                ) -> LlmOptions | None:
    """``llm:``; present (or ``sagemaker.stream: true``) makes the target a streaming LLM."""
    if "llm" not in top:
        return LlmOptions() if sagemaker is not None and sagemaker.stream else None
    value, line = top["llm"]
    values, keys = read_fields(ctx, value if value is not None else {}, "llm", line, LLM_FIELDS)
    for attr, key in (("input_tokens", "inputTokens"), ("output_tokens", "outputTokens")):
        if attr in values:
            length = _length(ctx, values[attr], keys[key][1], f"llm.{key}")
            if length is None:
                del values[attr]
            else:
                values[attr] = length
    if "slo" in values:
        slo = values.pop("slo")
        values.update(read_fields(ctx, slo, "llm.slo", keys["slo"][1], SLO_FIELDS)[0])
    if "prompts" in values:
        values["prompts"] = _prompts(ctx, values["prompts"], keys["prompts"][1])
        if values["prompts"] is None:
            del values["prompts"]
    if "max_tokens" in values and "prompts" not in keys:
        # Synthetic prompts carry their own output length: maxTokens would be ignored.
        ctx.error(keys["maxTokens"][1], "llm.maxTokens",
                  "synthetic prompts take their output length from llm.outputTokens "
                  "(maxTokens is for a prompts file's lines without max_tokens)")
    api = values.get("api") or ("tgi" if sagemaker is not None else "chat")
    if values.get("ignore_eos") and api == "tgi":
        ctx.error(keys["ignoreEos"][1], "llm.ignoreEos",
                  "TGI's generate_stream has no ignore_eos; it needs api: chat or completions "
                  "(vLLM, SGLang and the LMI containers take it)")
    if "extra_body" in values:
        values["extra_body"] = _extra_body(ctx, values["extra_body"], keys["extraBody"][1],
                                           api)
        if values["extra_body"] is None:
            del values["extra_body"]
    if sagemaker is not None and not sagemaker.stream and "sagemaker" in top:
        raw = top["sagemaker"][0]
        if isinstance(raw, dict) and any(str(k).lower() == "stream" for k in raw):
            ctx.error(keys.get("api", (None, line))[1], "llm",
                      "sagemaker.stream is false, but an llm section needs a streaming target")
    return LlmOptions(**values)


# Where an OpenAI-compatible (or TGI) server takes each request body, when no scenario says.
LLM_PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions",
             "tgi": "/generate_stream"}


def llm_scenario(llm: LlmOptions, sagemaker: bool) -> Scenario:
    """The one request an LLM profile without scenarios sends (bodies come from prompts)."""
    path = "" if sagemaker else LLM_PATHS[llm.resolved_api(False)]
    json_type = Template("application/json", ["application/json"])
    return Scenario("llm", 1.0, RequestSpec("POST", Template(path, [path]),
                                            {"content-type": json_type}))


# Body fields loadwatch sets itself, per api: llm.extraBody may not set them.
OWN_BODY_FIELDS = {"chat": ("messages", "max_tokens", "stream", "stream_options", "model"),
                   "completions": ("prompt", "max_tokens", "stream", "stream_options", "model"),
                   "tgi": ("inputs", "stream", "max_new_tokens", "details")}


def _extra_body(ctx: Context, value: Any, line: int, api: str) -> dict[str, Any] | None:
    """``llm.extraBody``: fields added to every request body as they are (``{min_tokens: 64,
    temperature: 0}``); for ``api: tgi`` they go into ``parameters``."""
    if not isinstance(value, dict) or not value:
        ctx.error(line, "llm.extraBody", f"expected a mapping of body fields, got {value!r}")
        return None
    out = {}
    for key, field_value in value.items():
        name = str(key)
        if name in OWN_BODY_FIELDS[api]:
            instead = {"max_tokens": "llm.outputTokens or llm.maxTokens",
                       "max_new_tokens": "llm.outputTokens or llm.maxTokens",
                       "model": "llm.model"}.get(name, "loadwatch")
            ctx.error(line, f"llm.extraBody.{name}", f"set by {instead}, not here")
            return None
        out[name] = field_value
    return out


def llm_length_warnings(llm: LlmOptions, limit: int | None, where: str) -> list[str]:
    """`validate`'s warnings: requests whose output (or input plus output, in words standing
    for tokens) can exceed the model's context length ``limit``; ``where`` says whose limit."""
    if limit is None:
        return []
    if llm.prompts:
        from driver.profile.prompts import load_prompts

        prompts = load_prompts(llm.prompts)
        output = max(p.max_tokens or llm.max_tokens for p in prompts)
        total = max(p.input_words + (p.max_tokens or llm.max_tokens) for p in prompts)
        field_name = "llm.prompts (max_tokens)" if any(p.max_tokens for p in prompts) else \
            "llm.maxTokens"
    else:
        output, total = _longest(llm.output_tokens), None
        longest_input = _longest(llm.input_tokens)
        if output is not None and longest_input is not None:
            total = output + longest_input
        field_name = "llm.outputTokens"
    if output is None:
        return [f"warning: {field_name}: a normal length with no max can exceed the model's "
                f"context of {limit:,} tokens ({where}); give it a max"]
    if output > limit:
        return [f"warning: {field_name}: up to {output:,} output tokens, more than the model's "
                f"context of {limit:,} tokens ({where}): the server will refuse them "
                f"(vLLM: HTTP 400)"]
    if total is not None and total > limit:
        return [f"warning: {field_name}: input plus output reach {total:,} tokens, more than "
                f"the model's context of {limit:,} ({where}): the longest requests will be "
                f"refused (vLLM: HTTP 400)"]
    return []


def _longest(spec: dict[str, Any]) -> int | None:
    """The longest a length distribution draws (None: a normal one with no max)."""
    if spec["kind"] == "fixed":
        return int(spec["value"])
    if spec["kind"] == "uniform":
        return int(spec["high"])
    return spec.get("maximum")


def _length(ctx: Context, value: Any, line: int, where: str) -> dict[str, Any] | None:
    """A length distribution: 128 (fixed), {min: 64, max: 256} (uniform) or
    {mean: 200, stddev: 50, max: 400} (normal)."""
    usage = "expected a whole number, {min, max} or {mean, stddev[, max]}"
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            ctx.error(line, where, f"must be at least 1, got {value}")
            return None
        return {"kind": "fixed", "value": value}
    if not isinstance(value, dict):
        ctx.error(line, where, f"{usage}, got {value!r}")
        return None
    keys = {str(k).lower(): v for k, v in value.items()}
    numbers = {}
    for key, raw in keys.items():
        number = ctx.number(raw, line, f"{where}.{key}", 0.0) if key in (
            "min", "max", "mean", "stddev") else None
        if key not in ("min", "max", "mean", "stddev"):
            ctx.error(line, f"{where}.{key}", f"unknown key; {usage}")
            return None
        if number is None:
            return None
        numbers[key] = number
    if set(numbers) == {"min", "max"}:
        low, high = int(numbers["min"]), int(numbers["max"])
        if not 1 <= low <= high:
            ctx.error(line, where, f"needs 1 <= min <= max, got {low}..{high}")
            return None
        return {"kind": "uniform", "low": low, "high": high}
    if {"mean", "stddev"} <= set(numbers) <= {"mean", "stddev", "max"}:
        if numbers["mean"] < 1:
            ctx.error(line, f"{where}.mean", "must be at least 1")
            return None
        out = {"kind": "normal", "value": numbers["mean"], "stddev": numbers["stddev"]}
        if "max" in numbers:
            out["maximum"] = int(numbers["max"])
        return out
    ctx.error(line, where, usage)
    return None


def _prompts(ctx: Context, rel: str, line: int) -> str | None:
    """The prompts file's absolute path, once every line of it has been checked."""
    from driver.profile.prompts import PromptsError, load_prompts

    path = Path(rel) if Path(rel).is_absolute() else (ctx.base_dir / rel).resolve()
    try:
        load_prompts(path)
    except PromptsError as error:
        for problem in error.problems:
            # The problem is in the prompts file, at its own line: name that file and line.
            where = _PROBLEM.match(problem)
            if where is None:
                ctx.error(line, "llm.prompts", problem)
            else:
                ctx.problems.append(Problem(where[1], int(where[2]), "llm.prompts", where[3]))
        return None
    return str(path)


def metrics_options(ctx: Context, top: Keys) -> MetricsOptions:
    if "metrics" not in top:
        return MetricsOptions()
    value, line = top["metrics"]
    return MetricsOptions(**read_fields(ctx, value, "metrics", line, METRICS_FIELDS)[0])


def describe_llm(llm: LlmOptions | None, load: LoadOptions, sagemaker: bool) -> list[str]:
    """Lines for `validate`: what a streaming profile sends, and what its rates mean."""
    lines = []
    if llm is not None:
        def length(spec: dict[str, Any]) -> str:
            if spec["kind"] == "fixed":
                return f"{spec['value']:g}"
            if spec["kind"] == "uniform":
                return f"{spec['low']}..{spec['high']}"
            return f"normal {spec['value']:g}±{spec['stddev']:g}"

        prompts = (f"prompts {llm.prompts} ({llm.order})" if llm.prompts else
                   f"synthetic prompts: input {length(llm.input_tokens)}, output "
                   f"{length(llm.output_tokens)} tokens, seed {llm.seed}")
        slo = ", ".join(f"{name} {value * 1000:g} ms" for name, value in (
            ("TTFT", llm.slo_ttft), ("TPOT", llm.slo_tpot)) if value is not None)
        lines.append(f"streaming LLM: {llm.resolved_api(sagemaker)} requests, "
                     f"{llm.resolved_shape(sagemaker)} stream, {prompts}; goodput SLO: "
                     f"{slo or 'none (every ok stream)'}; arrivals {load.arrivals}")
    if load.mode == "concurrency":
        lines.append("load.mode concurrency: the rates above are requests kept in flight, "
                     "and the request counts do not apply")
    return lines

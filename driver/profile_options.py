"""The loadwatch option sections (``load``, ``config.http``, ``sagemaker``, ``scaling``,
``metrics``): one field table each. A new option is a row here and an attribute on its
options class in ``driver.profile_model``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from driver.profile_model import LoadOptions, MetricsOptions, SageMakerOptions, ScalingOptions
from driver.profile_reader import Context, Field, read_fields

Keys = dict[str, tuple[Any, int]]

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
)
SCALING_FIELDS = (
    Field("min", "min", "int", 0),
    Field("max", "max", "int", 1),
    Field("target", "target", "number", 0, above=True),
    Field("scaleInCooldown", "scale_in_cooldown", "duration_or_zero"),
    Field("scaleOutCooldown", "scale_out_cooldown", "duration_or_zero"),
    Field("disableScaleIn", "disable_scale_in", "boolean"),
    Field("policyName", "policy_name", "string"),
    Field("disableMode", "disable_mode", "choice", choices=("suspend", "delete")),
    Field("enabled", "enabled", "boolean"),
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
    if options.min > options.max:
        ctx.error(keys.get("min", (None, line))[1], "scaling.min",
                  f"min {options.min} is above max {options.max}")
    return options


def metrics_options(ctx: Context, top: Keys) -> MetricsOptions:
    if "metrics" not in top:
        return MetricsOptions()
    value, line = top["metrics"]
    return MetricsOptions(**read_fields(ctx, value, "metrics", line, METRICS_FIELDS)[0])

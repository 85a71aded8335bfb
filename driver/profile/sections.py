"""The Artillery-shaped sections of a profile: phases, ensure, payload, scenarios, requests."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from driver.profile.model import Payload, RequestSpec, Scenario, Template
from driver.profile.reader import Context, Field, kind_of, line_of, read_fields
from driver.schedule import Phase
from metrics.ensure import CLIENT_LIMITED, LATENCY_KEYS
from metrics.redact import is_secret_name

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
PAYLOAD_FIELDS = (
    Field("path", "path", "string"),
    Field("fields", "fields", "any"),  # checked below: a list of names
    Field("order", "order", "choice", choices=("random", "sequence")),
    Field("skipHeader", "skip_header", "boolean"),
    Field("delimiter", "delimiter", "string"),
    Field("cast", "cast", "any"),  # Artillery's; accepted, values stay strings
    Field("loadAll", "load_all", "any"),  # Artillery's; loadwatch always loads all rows
)
SCENARIO_FIELDS = (
    Field("flow", "flow", "any"),
    Field("name", "name", "string"),
    Field("weight", "weight", "number", 0.0, above=True),
)


def read_phases(ctx: Context, config: dict[str, tuple[Any, int]]) -> list[Phase]:
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
        item_line = line_of(value, i, line)
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


def read_ensure(ctx: Context, config: dict[str, tuple[Any, int]]) -> dict[str, float]:
    if "ensure" not in config:
        return {}
    value, line = config["ensure"]
    allowed = ("maxErrorRate", *LATENCY_KEYS, CLIENT_LIMITED, "thresholds")
    keys = ctx.fields(value, "config.ensure", line, allowed)
    out: dict[str, float] = {}
    for name, (limit, key_line) in keys.items():
        where = f"config.ensure.{name}"
        if name == "thresholds":
            if not isinstance(limit, list):
                ctx.error(key_line, where, "expected a list like - http.response_time.p99: 250")
                continue
            for i, item in enumerate(limit):
                item_line = line_of(limit, i, key_line)
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
        if name == CLIENT_LIMITED:  # false: a run the load generator limited fails
            if not isinstance(limit, bool):
                ctx.error(key_line, where, "expected true or false (false: fail a run the "
                          "load generator limited)")
            elif not limit:
                out[name] = 0.0
            continue
        number = ctx.number(limit, key_line, where)
        if number is not None:
            if name == "maxErrorRate" and number > 100:
                ctx.error(key_line, where, f"is a percentage (0 to 100), got {number:g}")
                continue
            out[name] = number
    return out


def read_payload(ctx: Context, config: dict[str, tuple[Any, int]]) -> Payload | None:
    if "payload" not in config:
        return None
    value, line = config["payload"]
    if isinstance(value, list):
        if len(value) != 1:
            ctx.error(line, "config.payload", "loadwatch reads one payload file")
            return None
        line = line_of(value, 0, line)
        value = value[0]
    values, keys = read_fields(ctx, value, "config.payload", line, PAYLOAD_FIELDS)
    if "path" not in keys:
        ctx.error(line, "config.payload.path", "missing (a CSV file, relative to the profile)")
        return None
    rel = values.get("path")
    if rel is None:
        return None
    path = (ctx.base_dir / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
    order = values.get("order", "random")
    skip_header = bool(values.get("skip_header", False))
    delimiter = values.get("delimiter", ",")
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


def read_default_headers(ctx: Context, config: dict[str, tuple[Any, int]],
                     fields: list[str]) -> dict[str, Template]:
    if "defaults" not in config:
        return {}
    value, line = config["defaults"]
    keys = ctx.fields(value, "config.defaults", line, ("headers",))
    if "headers" not in keys:
        return {}
    return _headers(ctx, *keys["headers"], "config.defaults.headers", fields)


def _headers(ctx: Context, value: Any, line: int, where: str,
             fields: list[str]) -> dict[str, Template]:
    if not isinstance(value, dict):
        ctx.error(line, where,
                  f"expected a mapping of header names to values, got {kind_of(value)}")
        return {}
    headers = {}
    for name, raw in value.items():
        key_line = line_of(value, name, line)
        text = ctx.string(raw, key_line, f"{where}.{name}")
        if text is not None:
            headers[str(name)] = ctx.template(text, key_line, f"{where}.{name}", fields)
            if is_secret_name(name):
                ctx.secrets.add(headers[str(name)].render([""] * len(fields)))
    return headers


def read_scenarios(ctx: Context, top: dict[str, tuple[Any, int]], fields: list[str],
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
        item_line = line_of(value, i, line)
        values, keys = read_fields(ctx, item, where, item_line, SCENARIO_FIELDS)
        name = values.get("name") or f"scenario {i + 1}"
        weight = values.get("weight", 1.0)
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
        step, step_line = flow[0], line_of(flow, 0, flow_line)
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


def _request(ctx: Context, method: str, spec: Any, line: int, where: str, fields: list[str],
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
                text = ctx.string(item, line_of(raw, name, qs_line), f"{where}.qs.{name}")
                if text is not None:
                    query[str(name)] = ctx.template(text, qs_line, f"{where}.qs.{name}", fields)
                    if is_secret_name(name):
                        ctx.secrets.add(query[str(name)].render([""] * len(fields)))
    return RequestSpec(method.upper(), url, headers, body, query)


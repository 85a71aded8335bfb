"""CloudWatch GetMetricData and ListMetrics over the sandbox's metric store, and metric alarms.

Semantics follow AWS where the poller can tell: datapoint timestamps are period starts aligned
to the epoch; StartTime is rounded down to a period start and EndTime is exclusive; ScanBy
defaults to TimestampDescending; MaxDatapoints (default 100,800) bounds a page across all
queries and a NextToken continues it, with results of a query that has more to come marked
``PartialData``. A NextToken pins the time the first page was computed, so later pages do not
shift when new datapoints are published in between. A Period must be 1, 5, 10, 20, 30 or a
multiple of 60, as CloudWatch requires (InvalidParameterValue otherwise); one that is not a
multiple of the sandbox's metric period is then rounded up to one (the store has nothing finer).

PutMetricAlarm, DescribeAlarms and DeleteAlarms keep metric alarms (sandbox/alarms.py) whose
actions may name Application Auto Scaling step policies; an alarm's Period must be 10, 20, 30
or a multiple of 60.

Metric math (``Expression``) is not implemented: such a query is an InvalidParameterValue.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from sandbox.alarms import COMPARISONS, TREAT_MISSING, Alarm
from sandbox.errors import AwsError
from sandbox.metricstore import BASIC_STATISTICS, SeriesKey, check_statistic, series_key
from sandbox.protocols import from_epoch, to_epoch
from sandbox.simulation import Simulation

Handler = Callable[[Simulation, dict[str, Any], float], dict[str, Any]]

DEFAULT_MAX_DATAPOINTS = 100_800
MAX_QUERIES = 500
LIST_METRICS_PAGE = 500
RECENTLY_ACTIVE_S = 3 * 3600
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")

# The unit each metric is published with; a query naming another unit finds no data, as on AWS.
UNITS = {
    "ModelLatency": "Microseconds", "OverheadLatency": "Microseconds",
    "CPUUtilization": "Percent", "MemoryUtilization": "Percent", "DiskUtilization": "Percent",
}


HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
ALARM_PERIODS = (10, 20, 30)


def valid_period(period: int, short: tuple[int, ...] = HIGH_RESOLUTION_PERIODS) -> bool:
    """CloudWatch's rule: one of the short periods, or a multiple of 60 seconds."""
    return period in short or (period >= 60 and period % 60 == 0)


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message,
                    query_code="InvalidParameterValue")


def _missing(name: str) -> AwsError:
    return AwsError("MissingRequiredParameterException", f"The parameter {name} is required.",
                    query_code="MissingParameter")


def _invalid_token() -> AwsError:
    return AwsError("InvalidNextToken", "The NextToken is not valid for this request.",
                    query_code="InvalidNextToken")


def _request_fingerprint(params: dict[str, Any]) -> str:
    rest = {k: v for k, v in params.items() if k != "NextToken"}
    text = json.dumps(rest, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_token(offset: int, as_of: float, fingerprint: str) -> str:
    text = json.dumps({"o": offset, "t": as_of, "f": fingerprint})
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode_token(token: str, fingerprint: str) -> tuple[int, float]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, as_of, seen = int(data["o"]), float(data["t"]), data["f"]
    except (ValueError, KeyError, TypeError):
        raise _invalid_token() from None
    if seen != fingerprint or offset < 0:
        raise _invalid_token()
    return offset, as_of


def _metric_key(metric: dict[str, Any], query_id: str) -> SeriesKey:
    if not metric.get("Namespace") or not metric.get("MetricName"):
        raise invalid_parameter(f"Query {query_id}: Metric needs a Namespace and a MetricName.")
    dimensions = [(d.get("Name"), d.get("Value")) for d in metric.get("Dimensions") or []]
    if any(not name or value is None for name, value in dimensions):
        raise invalid_parameter(f"Query {query_id}: every dimension needs a Name and a Value.")
    return series_key(metric["Namespace"], metric["MetricName"], dimensions)


def get_metric_data(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    queries = params.get("MetricDataQueries")
    if not queries:
        raise _missing("MetricDataQueries")
    if len(queries) > MAX_QUERIES:
        raise invalid_parameter(f"At most {MAX_QUERIES} MetricDataQueries are allowed.")
    for name in ("StartTime", "EndTime"):
        if params.get(name) is None:
            raise _missing(name)
    start = to_epoch(params["StartTime"], "StartTime")
    end = to_epoch(params["EndTime"], "EndTime")
    if start >= end:
        raise invalid_parameter("The parameter StartTime must be less than the parameter "
                                "EndTime.")
    scan_by = params.get("ScanBy") or "TimestampDescending"
    if scan_by not in ("TimestampDescending", "TimestampAscending"):
        raise invalid_parameter(f"Unsupported ScanBy {scan_by!r}.")
    limit = int(params.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS)
    if limit < 1:
        raise invalid_parameter("MaxDatapoints must be positive.")
    fingerprint = _request_fingerprint(params)
    offset, as_of = 0, now
    if params.get("NextToken"):
        offset, as_of = _decode_token(str(params["NextToken"]), fingerprint)

    series: list[tuple[str, str, list[tuple[int, float]]]] = []
    seen_ids: set[str] = set()
    for query in queries:
        query_id = query.get("Id") or ""
        if not _QUERY_ID.match(query_id):
            raise invalid_parameter(f"The Id {query_id!r} must start with a lowercase letter "
                                    "and contain only letters, numbers and underscores.")
        if query_id in seen_ids:
            raise invalid_parameter(f"The Id {query_id!r} is used by more than one query.")
        seen_ids.add(query_id)
        if query.get("Expression"):
            raise invalid_parameter(f"Query {query_id}: metric math expressions are not "
                                    "supported by the sandbox; use MetricStat.")
        stat = query.get("MetricStat")
        if not stat:
            raise invalid_parameter(f"Query {query_id}: MetricStat is required.")
        key = _metric_key(stat.get("Metric") or {}, query_id)
        period = int(stat.get("Period") or 0)
        if not valid_period(period):
            raise invalid_parameter(f"Query {query_id}: the Period {period} is not valid; use "
                                    "1, 5, 10, 20, 30 or any multiple of 60 seconds.")
        statistic = stat.get("Stat") or ""
        try:
            check_statistic(statistic)
        except ValueError:
            raise invalid_parameter(f"Query {query_id}: the statistic {statistic!r} is not "
                                    "supported by the sandbox (Sum, Average, Minimum, "
                                    "Maximum, SampleCount, pNN.N).") from None
        points: list[tuple[int, float]] = []
        unit = stat.get("Unit")
        if unit is None or unit == UNITS.get(key[1], "None"):
            points = sim.store.query(key, start, end, period, statistic, as_of)
        if scan_by == "TimestampDescending":
            points.reverse()
        if query.get("ReturnData", True):
            label = query.get("Label") or key[1]
            series.append((query_id, label, points))

    results = []
    remaining = limit
    skip = offset
    more = False
    for query_id, label, points in series:
        dropped = min(skip, len(points))
        skip -= dropped
        page = points[dropped:dropped + remaining]
        remaining -= len(page)
        partial = dropped + len(page) < len(points)
        more = more or partial
        results.append({
            "Id": query_id,
            "Label": label,
            "Timestamps": [from_epoch(t) for t, _ in page],
            "Values": [v for _, v in page],
            "StatusCode": "PartialData" if partial else "Complete",
        })
    response: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
    if more:
        response["NextToken"] = _encode_token(offset + limit, as_of, fingerprint)
    return response


def _dimension_filter_matches(dimensions: tuple[tuple[str, str], ...],
                              filters: list[dict[str, Any]]) -> bool:
    present = dict(dimensions)
    for wanted in filters:
        name = wanted.get("Name")
        if name not in present:
            return False
        if wanted.get("Value") is not None and present[name] != wanted["Value"]:
            return False
    return True


def list_metrics(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    namespace = params.get("Namespace")
    name = params.get("MetricName")
    filters = params.get("Dimensions") or []
    recently = params.get("RecentlyActive")
    if recently not in (None, "PT3H"):
        raise invalid_parameter("RecentlyActive must be PT3H.")
    since = now - RECENTLY_ACTIVE_S if recently else None
    keys = sorted(
        key for key in sim.store.keys(now, since)
        if (namespace is None or key[0] == namespace) and (name is None or key[1] == name)
        and _dimension_filter_matches(key[2], filters))
    start = 0
    if params.get("NextToken"):
        start, _ = _decode_token(str(params["NextToken"]), _request_fingerprint(params))
    page = keys[start:start + LIST_METRICS_PAGE]
    response: dict[str, Any] = {"Metrics": [
        {"Namespace": key[0], "MetricName": key[1],
         "Dimensions": [{"Name": n, "Value": v} for n, v in key[2]]}
        for key in page
    ]}
    if start + LIST_METRICS_PAGE < len(keys):
        response["NextToken"] = _encode_token(start + LIST_METRICS_PAGE, now,
                                              _request_fingerprint(params))
    return response


def _whole(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        if value is None:
            raise _missing(name)
        raise invalid_parameter(f"The parameter {name} must be a whole number of at least 1.")
    return value


def put_metric_alarm(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    name = params.get("AlarmName")
    if not name:
        raise _missing("AlarmName")
    if params.get("Metrics"):
        raise invalid_parameter("Alarms on metric math (Metrics) are not supported by the "
                                "sandbox; name one metric.")
    for key in ("MetricName", "Namespace", "ComparisonOperator"):
        if not params.get(key):
            raise _missing(key)
    if params.get("Threshold") is None:
        raise _missing("Threshold")
    statistic = params.get("Statistic")
    if statistic not in BASIC_STATISTICS:
        raise invalid_parameter("The sandbox's alarms need a Statistic (SampleCount, Average, "
                                "Sum, Minimum, Maximum).")
    period = _whole(params, "Period")
    if not valid_period(period, ALARM_PERIODS):
        raise invalid_parameter(f"The Period {period} is not valid for an alarm; use 10, 20, 30 "
                                "or any multiple of 60 seconds.")
    if period % sim.tick:
        raise invalid_parameter(f"The sandbox publishes every {sim.tick} s; an alarm's Period "
                                f"must be a multiple of it, not {period}.")
    evaluation_periods = _whole(params, "EvaluationPeriods")
    datapoints = _whole(params, "DatapointsToAlarm", evaluation_periods)
    if datapoints > evaluation_periods:
        raise invalid_parameter("DatapointsToAlarm must not exceed EvaluationPeriods.")
    comparison = params["ComparisonOperator"]
    if comparison not in COMPARISONS:
        raise invalid_parameter(f"The sandbox's alarms compare with {', '.join(COMPARISONS)}, "
                                f"not {comparison}.")
    treat_missing = params.get("TreatMissingData") or "missing"
    if treat_missing not in TREAT_MISSING:
        raise invalid_parameter(f"TreatMissingData must be one of {', '.join(TREAT_MISSING)}.")
    dimensions = tuple(sorted((d.get("Name"), d.get("Value"))
                              for d in params.get("Dimensions") or []))
    if any(not n or v is None for n, v in dimensions):
        raise invalid_parameter("Every dimension needs a Name and a Value.")
    sim.alarms.put(Alarm(
        name, f"arn:aws:cloudwatch:{sim.config.region}:{sim.config.account_id}:alarm:{name}",
        params["Namespace"], params["MetricName"], dimensions, statistic, period,
        evaluation_periods, datapoints, float(params["Threshold"]), comparison, treat_missing,
        list(params.get("AlarmActions") or []), bool(params.get("ActionsEnabled", True)),
        dict(params), now, state_updated=now))
    return {}


def _describe_alarm(alarm: Alarm) -> dict[str, Any]:
    item: dict[str, Any] = {
        "AlarmName": alarm.name,
        "AlarmArn": alarm.arn,
        "AlarmConfigurationUpdatedTimestamp": from_epoch(alarm.updated),
        "ActionsEnabled": alarm.actions_enabled,
        "OKActions": list(alarm.request.get("OKActions") or []),
        "AlarmActions": list(alarm.actions),
        "InsufficientDataActions": list(alarm.request.get("InsufficientDataActions") or []),
        "StateValue": alarm.state,
        "StateReason": alarm.state_reason,
        "StateUpdatedTimestamp": from_epoch(alarm.state_updated),
        "StateTransitionedTimestamp": from_epoch(alarm.state_updated),
        "MetricName": alarm.metric,
        "Namespace": alarm.namespace,
        "Statistic": alarm.statistic,
        "Dimensions": [{"Name": n, "Value": v} for n, v in alarm.dimensions],
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "Threshold": alarm.threshold,
        "ComparisonOperator": alarm.comparison,
        "TreatMissingData": alarm.treat_missing,
    }
    if alarm.request.get("AlarmDescription"):
        item["AlarmDescription"] = alarm.request["AlarmDescription"]
    return item


def describe_alarms(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    names = params.get("AlarmNames")
    prefix = params.get("AlarmNamePrefix")
    if names and prefix:
        raise invalid_parameter("AlarmNames and AlarmNamePrefix cannot be used together.")
    state = params.get("StateValue")
    action_prefix = params.get("ActionPrefix")
    types = params.get("AlarmTypes") or ["MetricAlarm"]
    alarms = sorted(
        (a for a in sim.alarms.alarms.values()
         if (not names or a.name in names) and (not prefix or a.name.startswith(prefix))
         and (state is None or a.state == state)
         and (not action_prefix or any(x.startswith(action_prefix) for x in a.actions))),
        key=lambda a: a.name) if "MetricAlarm" in types else []
    start = 0
    if params.get("NextToken"):
        start, _ = _decode_token(str(params["NextToken"]), _request_fingerprint(params))
    limit = int(params.get("MaxRecords") or 50)
    if not 1 <= limit <= 100:
        raise invalid_parameter("MaxRecords must be between 1 and 100.")
    response: dict[str, Any] = {
        "MetricAlarms": [_describe_alarm(a) for a in alarms[start:start + limit]],
        "CompositeAlarms": [],
    }
    if start + limit < len(alarms):
        response["NextToken"] = _encode_token(start + limit, now, _request_fingerprint(params))
    return response


def delete_alarms(sim: Simulation, params: dict[str, Any], now: float) -> dict[str, Any]:
    names = params.get("AlarmNames")
    if not names:
        raise _missing("AlarmNames")
    missing = sim.alarms.delete(list(names))
    if missing:
        raise AwsError("ResourceNotFound", f"{', '.join(missing)} not found; no alarm was "
                       "deleted.", status=404, query_code="ResourceNotFound")
    return {}


OPERATIONS: dict[str, Handler] = {
    "GetMetricData": get_metric_data,
    "ListMetrics": list_metrics,
    "PutMetricAlarm": put_metric_alarm,
    "DescribeAlarms": describe_alarms,
    "DeleteAlarms": delete_alarms,
}

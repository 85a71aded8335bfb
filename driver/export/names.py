"""The live metrics loadwatch exports, in one table: Prometheus and OTLP read the same rows,
and ``docs/export.md`` shows them. Names follow Prometheus conventions: a ``loadwatch_``
prefix, base units in the name (seconds, ratio), counters ending ``_total`` (the OTLP
instrument is the name without it). Dollars are US dollars."""

from __future__ import annotations

from dataclasses import dataclass

COUNTER = "counter"
GAUGE = "gauge"
QUANTILES = ("0.5", "0.95", "0.99")


@dataclass(frozen=True)
class Metric:
    name: str  # the Prometheus name, counters with _total
    kind: str  # counter | gauge
    unit: str  # UCUM for OTLP: s, 1, {request}, ...
    labels: tuple[str, ...]
    help: str
    llm: bool = False  # streaming LLM runs only

    @property
    def base(self) -> str:
        """The name without ``_total``: prometheus_client's family name, the OTLP name."""
        return self.name.removesuffix("_total")


WINDOW = "over the last 5 s"
METRICS: tuple[Metric, ...] = (
    Metric("loadwatch_requests_sent_total", COUNTER, "{request}", (), "requests sent"),
    Metric("loadwatch_requests_total", COUNTER, "{request}", ("outcome",),
           "requests that ended, by outcome (ok, 4xx, 5xx, throttled, timeout, conn_error, "
           "other)"),
    Metric("loadwatch_responses_total", COUNTER, "{response}", ("code",),
           "HTTP responses by status code"),
    Metric("loadwatch_errors_total", COUNTER, "{request}", ("code",),
           "failed requests by error code (the AWS error code, Timeout, ConnectionReset, ...)"),
    Metric("loadwatch_requests_late_total", COUNTER, "{request}", (),
           "requests sent more than lateMs after their intended time"),
    Metric("loadwatch_requests_not_sent_total", COUNTER, "{request}", (),
           "requests due but not sent (in-flight cap, or late past the schedule's end)"),
    Metric("loadwatch_target_requests_per_second", GAUGE, "{request}/s", (),
           "the rate the schedule asked for in the last second"),
    Metric("loadwatch_sent_requests_per_second", GAUGE, "{request}/s", (),
           f"requests sent per second {WINDOW}"),
    Metric("loadwatch_completed_requests_per_second", GAUGE, "{request}/s", (),
           f"requests completed per second {WINDOW}"),
    Metric("loadwatch_requests_in_flight", GAUGE, "{request}", (),
           "requests sent and not yet answered, at the end of the last second"),
    Metric("loadwatch_latency_seconds", GAUGE, "s", ("quantile",),
           f"latency of successful requests from the intended send, {WINDOW}"),
    Metric("loadwatch_failed_latency_seconds", GAUGE, "s", ("quantile",),
           f"latency of failed requests from the intended send, {WINDOW}"),
    Metric("loadwatch_send_lag_seconds", GAUGE, "s", ("quantile",),
           f"actual minus intended send time, {WINDOW}"),
    Metric("loadwatch_instances", GAUGE, "{instance}", ("variant",),
           "the endpoint variant's current instance count"),
    Metric("loadwatch_instances_desired", GAUGE, "{instance}", ("variant",),
           "the endpoint variant's desired instance count"),
    Metric("loadwatch_cost_dollars_total", COUNTER, "USD", (),
           "what the endpoint's instances cost so far in this run"),
    Metric("loadwatch_cost_dollars_per_hour", GAUGE, "USD/h", (),
           "what the endpoint's instances cost per hour now"),
    Metric("loadwatch_worker_cpu_ratio", GAUGE, "1", ("worker",),
           "a load worker's CPU time over the last second, as a fraction of one core"),
    Metric("loadwatch_event_loop_lag_seconds", GAUGE, "s", (),
           "the worst event-loop lag of any worker in the last second"),
    Metric("loadwatch_client_limited", GAUGE, "1", (),
           "1 when the run so far was limited by the load generator (docs/export.md)"),
    Metric("loadwatch_output_tokens_total", COUNTER, "{token}", (), "output tokens streamed",
           llm=True),
    Metric("loadwatch_input_tokens_total", COUNTER, "{token}", (), "input tokens sent",
           llm=True),
    Metric("loadwatch_goodput_requests_total", COUNTER, "{request}", (),
           "streamed requests that met both SLOs (TTFT and TPOT)", llm=True),
    Metric("loadwatch_output_tokens_per_second", GAUGE, "{token}/s", (),
           f"output tokens per second {WINDOW}", llm=True),
    Metric("loadwatch_time_to_first_token_seconds", GAUGE, "s", ("quantile",),
           f"time to first token from the intended send, {WINDOW}", llm=True),
    Metric("loadwatch_time_per_output_token_seconds", GAUGE, "s", ("quantile",),
           f"time per output token, {WINDOW}", llm=True),
)
BY_NAME = {metric.name: metric for metric in METRICS}


def markdown_table() -> str:
    """The table docs/export.md shows (a test keeps the two the same)."""
    lines = ["| metric | type | labels | what |", "|---|---|---|---|"]
    for m in METRICS:
        labels = ", ".join(m.labels) or "—"
        what = m.help + (" (LLM runs)" if m.llm else "")
        lines.append(f"| `{m.name}` | {m.kind} | {labels} | {what} |")
    return "\n".join(lines)

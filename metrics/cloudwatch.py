"""The CloudWatch poller: the endpoint's own metrics as ``Datapoint`` records.

One GetMetricData request per poll asks for every series (``METRICS``) of one endpoint variant,
each at the poller's period except a high-resolution series (``ConcurrentRequestsPerModel``,
published every 10 s), which is asked for at its own finer period when that is shorter.
Only complete periods are asked for, over a window reaching ``lookback`` seconds back, because
CloudWatch publishes late and revises recent periods as late samples arrive: a datapoint seen
for the first time is emitted, one whose value changed is emitted again with ``revised=True``,
one unchanged is not. Latencies arrive in microseconds and leave in milliseconds; nothing
downstream converts again.

With an inference component named, the series are the component's (``COMPONENT_METRICS``:
namespace ``AWS/SageMaker`` and ``/aws/sagemaker/InferenceComponents``, dimension
``InferenceComponentName``, as AWS's "SageMaker AI inference component metrics" lists them),
beside the instances' utilisation (``/aws/sagemaker/Endpoints``, EndpointName and VariantName).

Polls never overlap (the next is armed after the previous finished), run boto3 in a thread
so the event loop never waits on the network, and back off (doubling, up to ``max_backoff``)
while CloudWatch throttles or fails. Between successful polls the wait is the interval give or
take ``jitter`` / 2 of it, at random (the mean, and so the cost, unchanged): polls at a fixed
phase see every datapoint the same few seconds after it became visible, so the recording
could never tell the publication delay better than one interval; with the phase drifting, the
earliest arrivals over a run come within a fraction of a second of it (``loadwatch twin``).
The client is the caller's: ``metrics`` makes no clients.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from metrics.aws_errors import THROTTLING_CODES, error_code, error_message
from metrics.records import Datapoint, Event, Record

SAGEMAKER = "AWS/SageMaker"
ENDPOINTS = "/aws/sagemaker/Endpoints"
COMPONENTS = "/aws/sagemaker/InferenceComponents"
VARIANT, COMPONENT = "variant", "component"  # which dimensions a series is asked for with
# GetMetricData is billed per metric requested: each query of each request counts once.
USD_PER_1000_METRICS = 0.01


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One series to ask for: a metric, a statistic and how to convert what comes back."""

    id: str  # GetMetricData query id: ^[a-z][a-zA-Z0-9_]*$
    namespace: str
    metric: str
    stat: str
    unit: str  # after conversion
    scale: float = 1.0  # multiply CloudWatch's value by this once
    # A high-resolution series' own period; None: the poller's period.
    resolution: int | None = None
    scope: str = VARIANT  # dimensions: EndpointName + VariantName, or InferenceComponentName


_US_TO_MS = 0.001
# SageMaker publishes ConcurrentRequestsPerModel every 10 s (queued requests included; a
# streamed request counts until its last token); the rest of its metrics every minute.
HIGH_RESOLUTION_S = 10
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("invocations", SAGEMAKER, "Invocations", "Sum", "count"),
    MetricSpec("invocations_per_instance", SAGEMAKER, "InvocationsPerInstance", "Sum", "count"),
    MetricSpec("model_latency_avg", SAGEMAKER, "ModelLatency", "Average", "ms", _US_TO_MS),
    MetricSpec("model_latency_p50", SAGEMAKER, "ModelLatency", "p50", "ms", _US_TO_MS),
    MetricSpec("model_latency_p99", SAGEMAKER, "ModelLatency", "p99", "ms", _US_TO_MS),
    MetricSpec("overhead_latency_avg", SAGEMAKER, "OverheadLatency", "Average", "ms", _US_TO_MS),
    MetricSpec("overhead_latency_p99", SAGEMAKER, "OverheadLatency", "p99", "ms", _US_TO_MS),
    MetricSpec("errors_4xx", SAGEMAKER, "Invocation4XXErrors", "Sum", "count"),
    MetricSpec("errors_5xx", SAGEMAKER, "Invocation5XXErrors", "Sum", "count"),
    MetricSpec("cpu", ENDPOINTS, "CPUUtilization", "Average", "percent"),
    MetricSpec("memory", ENDPOINTS, "MemoryUtilization", "Average", "percent"),
    MetricSpec("concurrency", SAGEMAKER, "ConcurrentRequestsPerModel", "Average", "count",
               resolution=HIGH_RESOLUTION_S),
)


# An inference component's own series; the instances' utilisation stays per variant.
COMPONENT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("invocations", SAGEMAKER, "Invocations", "Sum", "count", scope=COMPONENT),
    MetricSpec("invocations_per_copy", SAGEMAKER, "InvocationsPerCopy", "Sum", "count",
               scope=COMPONENT),
    MetricSpec("model_latency_avg", SAGEMAKER, "ModelLatency", "Average", "ms", _US_TO_MS,
               scope=COMPONENT),
    MetricSpec("model_latency_p50", SAGEMAKER, "ModelLatency", "p50", "ms", _US_TO_MS,
               scope=COMPONENT),
    MetricSpec("model_latency_p99", SAGEMAKER, "ModelLatency", "p99", "ms", _US_TO_MS,
               scope=COMPONENT),
    MetricSpec("overhead_latency_avg", SAGEMAKER, "OverheadLatency", "Average", "ms",
               _US_TO_MS, scope=COMPONENT),
    MetricSpec("errors_4xx", SAGEMAKER, "Invocation4XXErrors", "Sum", "count", scope=COMPONENT),
    MetricSpec("errors_5xx", SAGEMAKER, "Invocation5XXErrors", "Sum", "count", scope=COMPONENT),
    MetricSpec("model_errors", SAGEMAKER, "InvocationModelErrors", "Sum", "count",
               scope=COMPONENT),
    MetricSpec("no_capacity", SAGEMAKER, "NoCapacityInvocationFailures", "Sum", "count",
               scope=COMPONENT),
    MetricSpec("concurrency_per_copy", SAGEMAKER, "ConcurrentRequestsPerCopy", "Average",
               "count", resolution=HIGH_RESOLUTION_S, scope=COMPONENT),
    MetricSpec("copy_cpu", COMPONENTS, "CPUUtilizationNormalized", "Average", "percent",
               scope=COMPONENT),
    MetricSpec("copy_memory", COMPONENTS, "MemoryUtilizationNormalized", "Average", "percent",
               scope=COMPONENT),
    MetricSpec("cpu", ENDPOINTS, "CPUUtilization", "Average", "percent"),
    MetricSpec("memory", ENDPOINTS, "MemoryUtilization", "Average", "percent"),
)
# On GPU instances (ml.g*, ml.p*): the instances' GPUs, and a component's share of them.
GPU_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("gpu", ENDPOINTS, "GPUUtilization", "Average", "percent"),
    MetricSpec("gpu_memory", ENDPOINTS, "GPUMemoryUtilization", "Average", "percent"),
)
COMPONENT_GPU_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("copy_gpu", COMPONENTS, "GPUUtilizationNormalized", "Average", "percent",
               scope=COMPONENT),
    MetricSpec("copy_gpu_memory", COMPONENTS, "GPUMemoryUtilizationNormalized", "Average",
               "percent", scope=COMPONENT),
)


def series_for(component: str | None, instance_type: str | None) -> tuple[MetricSpec, ...]:
    """What to poll: a variant's or a component's series, GPU ones on GPU instances."""
    gpu = bool(instance_type) and str(instance_type).startswith(("ml.g", "ml.p"))
    if component:
        return COMPONENT_METRICS + (COMPONENT_GPU_METRICS + GPU_METRICS if gpu else ())
    return METRICS + (GPU_METRICS if gpu else ())


def poll_cost_per_hour(interval_s: float, metrics: int = len(METRICS)) -> float:
    """Estimated USD per hour of GetMetricData for one poll of ``metrics`` every interval."""
    return 3600.0 / interval_s * metrics * USD_PER_1000_METRICS / 1000.0


def aws_code(exc: BaseException) -> str:
    """The AWS error code of a failed call, or the exception's type when AWS never answered."""
    if isinstance(exc, ClientError):
        return error_code(exc) or "Unknown"
    return type(exc).__name__


Sleep = Callable[[float], Awaitable[Any]]


class CloudWatchPoller:
    """Polls one endpoint variant's metrics and emits what is new or revised.

    ``clock`` is UTC epoch seconds (CloudWatch's time), ``elapsed`` the session's elapsed
    seconds for events; both, and ``sleep``, are injected so tests never wait.
    """

    def __init__(
        self,
        client: Any,
        endpoint: str,
        variant: str,
        emit: Callable[[Record], None],
        *,
        period: int = 60,
        interval: float | None = None,
        lookback: float | None = None,
        since: float | None = None,
        max_backoff: float = 600.0,
        clock: Callable[[], float] = time.time,
        elapsed: Callable[[], float] = lambda: 0.0,
        sleep: Sleep = asyncio.sleep,
        metrics: tuple[MetricSpec, ...] | None = None,
        component: str | None = None,
        jitter: float = 0.5,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.variant = variant
        self.component = component
        metrics = metrics or (COMPONENT_METRICS if component else METRICS)
        self.emit = emit
        self.period = int(period)
        self.interval = float(interval or period)
        # CloudWatch revises recent periods for a few minutes; keep watching them that long.
        self.lookback = float(lookback or max(5 * self.period, 300))
        self.since = since
        self.max_backoff = max(max_backoff, self.interval)
        self.clock = clock
        self.elapsed = elapsed
        self.sleep = sleep
        self.jitter = jitter
        self.uniform = uniform
        self.metrics = metrics
        self._by_id = {m.id: m for m in metrics}
        self._seen: dict[tuple[str, float], float] = {}  # (query id, period start) -> raw value
        self.failures = 0  # consecutive failed polls
        self.polls = 0
        self.requests = 0  # GetMetricData calls, NextToken pages included
        self._last_failure_code: str | None = None
        self._reported_status: set[tuple[str, str]] = set()

    # --- the request ---------------------------------------------------------------------

    def queries(self) -> list[dict[str, Any]]:
        dimensions = {VARIANT: [{"Name": "EndpointName", "Value": self.endpoint},
                                {"Name": "VariantName", "Value": self.variant}],
                      COMPONENT: [{"Name": "InferenceComponentName",
                                   "Value": self.component or ""}]}
        return [{
            "Id": m.id,
            "MetricStat": {
                "Metric": {"Namespace": m.namespace, "MetricName": m.metric,
                           "Dimensions": dimensions[m.scope]},
                "Period": self.period_of(m),
                "Stat": m.stat,
            },
            "ReturnData": True,
        } for m in self.metrics]

    def period_of(self, spec: MetricSpec) -> int:
        """The period ``spec`` is asked for at: its own resolution if finer than the poller's."""
        if spec.resolution is not None and spec.resolution < self.period:
            return spec.resolution
        return self.period

    def window(self, now: float) -> tuple[float, float]:
        """[start, end) in epoch seconds, on period boundaries; end excludes the open period.

        ``end`` is on the finest period asked for: a coarser series' open period that this
        lets in is dropped when the answer is read (``_absorb``).
        """
        finest = min(self.period_of(m) for m in self.metrics)
        end = math.floor(now / finest) * finest
        start = math.floor((now - self.lookback) / self.period) * self.period
        if self.since is not None:
            start = max(start, math.floor(self.since / self.period) * self.period)
        return start, end

    def fetch(self, start: float, end: float) -> list[dict[str, Any]]:
        """Every MetricDataResult for the window, following NextToken (blocking: a thread's)."""
        request: dict[str, Any] = {
            "MetricDataQueries": self.queries(),
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        results: list[dict[str, Any]] = []
        while True:
            response = self.client.get_metric_data(**request)
            self.requests += 1
            results.extend(response.get("MetricDataResults", []))
            token = response.get("NextToken")
            if not token:
                return results
            request["NextToken"] = token

    # --- one poll ------------------------------------------------------------------------

    async def poll(self) -> list[Datapoint]:
        """Fetch the window and emit new and revised datapoints; errors propagate."""
        now = self.clock()
        start, end = self.window(now)
        self.polls += 1
        if end <= start:
            return []
        results = await asyncio.to_thread(self.fetch, start, end)
        return self._absorb(results, start, now)

    def _absorb(self, results: list[dict[str, Any]], start: float,
                now: float) -> list[Datapoint]:
        fresh: list[Datapoint] = []
        for result in results:
            spec = self._by_id.get(result.get("Id", ""))
            if spec is None:
                continue
            period = self.period_of(spec)
            open_from = math.floor(now / period) * period  # this series' unfinished period
            status = result.get("StatusCode", "Complete")
            if status not in ("Complete", "PartialData") and \
                    (spec.id, status) not in self._reported_status:
                self._reported_status.add((spec.id, status))
                messages = "; ".join(m.get("Value", "") for m in result.get("Messages", []))
                self._event("metric_unavailable",
                            f"CloudWatch {spec.metric} {spec.stat}: {status} {messages}".strip(),
                            metric=spec.metric, stat=spec.stat, status=status)
            for stamp, raw in zip(result.get("Timestamps", []), result.get("Values", []),
                                  strict=False):
                t = stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)
                if t < start or t >= open_from:
                    continue
                key = (spec.id, t)
                before = self._seen.get(key)
                if before is not None and before == raw:
                    continue
                self._seen[key] = raw
                fresh.append(Datapoint(t=t, period=period, namespace=spec.namespace,
                                       metric=spec.metric, stat=spec.stat,
                                       value=raw * spec.scale, unit=spec.unit,
                                       revised=before is not None))
        # Periods that left the window can no longer be revised: forget them.
        self._seen = {k: v for k, v in self._seen.items() if k[1] >= start}
        fresh.sort(key=lambda d: (d.t, d.namespace, d.metric, d.stat))
        for datapoint in fresh:
            self.emit(datapoint)
        return fresh

    # --- the loop ------------------------------------------------------------------------

    def next_delay(self) -> float:
        """Seconds until the next poll: the interval (give or take ``jitter`` / 2 of it),
        doubled per consecutive failure."""
        if not self.failures:
            return self.interval * (1.0 + self.jitter * (self.uniform() - 0.5))
        return min(self.interval * 2 ** self.failures, self.max_backoff)

    async def run(self) -> None:
        """Poll until cancelled; a failed poll becomes an event, never an exception."""
        while True:
            try:
                await self.poll()
            except (ClientError, BotoCoreError) as exc:
                self._failed(exc)
            else:
                if self.failures:
                    self._event("poll_recovered", "CloudWatch answers again")
                self.failures = 0
                self._last_failure_code = None
            await self.sleep(self.next_delay())

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        code = aws_code(exc)
        throttled = code in THROTTLING_CODES
        delay = self.next_delay()
        if code != self._last_failure_code:
            what = "throttled" if throttled else "failed"
            message = error_message(exc)
            self._event("poll_throttled" if throttled else "poll_failed",
                        f"CloudWatch poll {what} ({code}): {' '.join(message.split())[:200]}; "
                        f"next poll in {delay:g} s", code=code, retry_in=delay)
        self._last_failure_code = code

    def _event(self, name: str, message: str, **data: Any) -> None:
        self.emit(Event(t=self.clock(), elapsed=self.elapsed(), source="poller", name=name,
                        message=message, data=data))

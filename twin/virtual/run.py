"""A session in virtual time: the sandbox's own endpoint, metric store and autoscaler on a
virtual clock, serving a twin's instances second by second.

Each virtual second: ``Simulation.step`` runs (instances come up after the provisioning
delay, ended periods are published with their delay, the alarms and policies are evaluated:
the sandbox's code, not a second autoscaler); the second's arrivals are served in bulk
(``serving``) and counted into the sandbox's endpoint (``Endpoint.record``, a few calls per
second) so its CloudWatch periods are the live sandbox's. The twin also publishes
ConcurrentRequestsPerModel every 10 s (the sandbox does so only for LLM instances) so a
high-resolution policy can be tried. ``VirtualRun.run`` returns per-second figures and,
when asked, the records a live session would have written (``records``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrics import hdr
from metrics.records import Record
from sandbox import api_autoscaling, api_cloudwatch
from sandbox.config import SandboxConfig
from sandbox.endpoint import CONCURRENCY_METRIC, SAGEMAKER_NAMESPACE
from sandbox.instance import DRAINING, IN_SERVICE, OK, QUEUE_FULL, Served
from sandbox.metricstore import Datapoint, series_key
from sandbox.model import ModelStats
from sandbox.simulation import Simulation
from twin.model import ScalingPolicy, Twin
from twin.model.policy import INVOCATIONS, TARGET
from twin.virtual.recorder import RecordBuilder
from twin.virtual.serving import Capacity, ServingModel, serve_second
from twin.virtual.traffic import Traffic

# Virtual time starts here (a whole hour, so every period is aligned): 2027-01-01T00:00Z.
EPOCH0 = 1_798_761_600.0
# A period's ModelLatency is counted into the sandbox's endpoint as this many groups of equal
# size (sorted, each at its mean): about forty calls a period instead of one per request.
# The mean is exact; percentiles are those of the groups' means.
LATENCY_GROUPS = 40


class VirtualClock:
    """The wall and monotonic clock of a virtual run: whatever ``now`` was set to."""

    __slots__ = ("now",)

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class NoPredictions:
    """What a virtual instance runs instead of the iris model: nothing, its service time is
    drawn. It keeps the model's counters so the sandbox's state view reads as usual."""

    def __init__(self) -> None:
        self.stats = ModelStats()


@dataclass
class RunResult:
    """Per-second figures of a virtual run (index: elapsed second of arrival)."""

    sent: np.ndarray  # due (the client's in-flight cap may have kept some from being sent)
    ok: np.ndarray
    failed: np.ndarray  # due and not ok: 503, timed out, or not sent
    p99_ms: np.ndarray  # of the second's successful requests; nan without any
    serving: np.ndarray  # instances serving
    billed: np.ndarray  # instances billed (provisioning and draining included)
    latency: Any  # HDR histogram of every successful request's latency (see ``run``)
    records: list[Record] = field(default_factory=list)

    def percentile_ms(self, percentile: float) -> float | None:
        return hdr.percentile_ms(self.latency, percentile)


class VirtualRun:
    def __init__(self, twin: Twin, traffic: Traffic, policy: ScalingPolicy | None = None,
                 *, seed: int = 0, initial_instances: int | None = None,
                 epoch0: float = EPOCH0) -> None:
        self.twin = twin
        self.traffic = traffic
        self.policy = policy
        self.seed = seed
        self.epoch0 = epoch0
        start = initial_instances or (policy.min_capacity if policy else 1)
        self.config: SandboxConfig = twin.sandbox_config(initial_instances=start, seed=seed)
        self.clock = VirtualClock(epoch0)
        self.sim = Simulation(self.config, NoPredictions(), now=epoch0,  # type: ignore[arg-type]
                              wall=self.clock, clock=self.clock)
        self.serving = ServingModel(twin.capacity_rps, twin.queue_bound, twin.model_latency_ms,
                                    twin.service_jitter_ms, twin.overhead_ms, traffic.timeout_s,
                                    tuple(twin.service_quantiles_ms), twin.workers,
                                    traffic.max_in_flight)
        self.capacity = Capacity(twin.capacity_rps, twin.stretches, seed)
        if policy is not None:
            self._put_in_force(policy)

    def _put_in_force(self, policy: ScalingPolicy) -> None:
        """Send the policy's requests to the sandbox's own API handlers, as a client would."""
        arns: dict[str, str] = {}
        config = self.config
        for operation, params in policy.calls(config.endpoint_name, config.variant,
                                              config.timings.period_s):
            if operation == "PutMetricAlarm":
                params = {**params, "AlarmActions": [
                    arns[a[len("{arn:"):-1]] if a.startswith("{arn:") else a
                    for a in params["AlarmActions"]]}
            handler = {**api_autoscaling.OPERATIONS, **api_cloudwatch.OPERATIONS}[operation]
            answer = handler(self.sim, params, self.epoch0)
            if operation == "PutScalingPolicy":
                arns[params["PolicyName"]] = answer["PolicyARN"]

    def run(self, records: bool = False, latency_from: int = 0) -> RunResult:
        """``records``: also the records a live session would write; ``latency_from``: the
        whole-run latency histogram counts requests arriving from this second on (a step's
        judged seconds, its settling left out)."""
        traffic, sim, clock = self.traffic, self.sim, self.clock
        endpoint = sim.endpoint
        rng = np.random.default_rng(self.seed)
        n = traffic.seconds
        sent = np.zeros(n, dtype=np.int64)
        ok = np.zeros(n, dtype=np.int64)
        failed = np.zeros(n, dtype=np.int64)
        p99 = np.full(n, np.nan)
        serving_count = np.zeros(n, dtype=np.int64)
        billed = np.zeros(n, dtype=np.int64)
        latency_all = hdr.new_histogram()
        builder = RecordBuilder(sim, traffic, self.epoch0, self._simulated(),
                                self._scaling_target()) if records else None
        fine = int(self.config.timings.concurrency_period_s)
        period = int(self.config.timings.period_s)
        served: dict[int, list[np.ndarray]] = {}  # serving instances -> time in the instance
        rejected: dict[int, int] = {}
        in_instance_s = 0.0  # time requests spent in instances during this fine period
        instance_seconds = 0
        backlog = 0.0
        for k in range(n):
            now = self.epoch0 + k
            clock.now = now
            sim.step(now)
            if builder is not None:
                builder.before_second(k, now)
            m = endpoint.current
            serving_count[k] = m
            billed[k] = len(endpoint.instances)
            arrivals = traffic.arrivals(k, rng)
            drain, ahead = self.capacity.drains(m, k)
            second = serve_second(self.serving, backlog, arrivals, m, rng, drain, ahead,
                                  traffic.poisson, float(traffic.counts[k]))
            backlog = second.backlog
            timed_out = second.latency_s > traffic.timeout_s
            bad = second.rejected | timed_out
            good = ~bad
            sent[k] = len(arrivals)
            ok[k] = int(good.sum())
            failed[k] = sent[k] - ok[k]
            ok_latency_us = (second.latency_s[good] * 1e6).astype(np.int64)
            if len(ok_latency_us):
                rank = max(math.ceil(0.99 * len(ok_latency_us)) - 1, 0)
                p99[k] = float(np.partition(ok_latency_us, rank)[rank]) / 1000.0
                if k >= latency_from:
                    hdr.record_many(latency_all, ok_latency_us)
            served.setdefault(m, []).append(second.model_s[good])
            # Requests not sent never reached the endpoint: neither invocations nor 503s.
            rejected[m] = rejected.get(m, 0) + int((second.rejected & ~second.not_sent).sum())
            if (k + 1) % period == 0 or k == n - 1:
                clock.now = now + 0.5  # inside the period the sandbox counts them in
                self._count(served, rejected)
                served, rejected = {}, {}
            busy = float(second.model_s.sum())
            in_instance_s += busy
            instance_seconds += m
            for instance in endpoint.instances:
                if instance.state in (IN_SERVICE, DRAINING):
                    instance.account(busy / max(m, 1), self.twin.workers)
            if (k + 1) % fine == 0 or k == n - 1:
                self._publish_concurrency(now + 1 - fine, in_instance_s, instance_seconds)
                in_instance_s, instance_seconds = 0.0, 0
            if builder is not None:
                builder.after_second(k, second, timed_out)
        result = RunResult(sent, ok, failed, p99, serving_count, billed, latency_all)
        if builder is not None:
            result.records = builder.finish(self.epoch0 + n)
        return result

    def _simulated(self) -> dict[str, Any]:
        """The header's ``meta.simulated``: a virtual run, of which twin, seed and policy."""
        return {"twin": self.twin.path, "seed": self.seed, "traffic": self.traffic.source,
                "instance_type": self.twin.instance_type,
                "policy": None if self.policy is None else {
                    "label": self.policy.label, "min": self.policy.min_capacity,
                    "max": self.policy.max_capacity,
                    "calls": self.policy.calls(self.config.endpoint_name, self.config.variant,
                                               self.config.timings.period_s)}}

    def _scaling_target(self) -> float | None:
        policy = self.policy
        if policy is None or policy.metric != INVOCATIONS or policy.kind != TARGET:
            return None
        return float(policy.target)

    def _count(self, served: dict[int, list[np.ndarray]], rejected: dict[int, int]) -> None:
        """Count a period's requests into the sandbox's endpoint, in groups of alike."""
        endpoint = self.sim.endpoint
        overhead = self.serving.overhead_ms / 1000.0
        for instances, parts in served.items():
            model_s = np.sort(np.concatenate(parts))
            if not len(model_s):  # a period in which none of them was served in time
                continue
            for group in np.array_split(model_s, min(LATENCY_GROUPS, len(model_s))):
                if len(group):
                    seconds = float(group.mean())
                    endpoint.record(Served(OK, model_seconds=seconds), instances,
                                    seconds + overhead, len(group))
        for instances, count in rejected.items():
            if count:
                endpoint.record(Served(QUEUE_FULL), instances, overhead, count)

    def _publish_concurrency(self, period_start: float, in_instance_s: float,
                             instance_seconds: int) -> None:
        if instance_seconds <= 0:
            return
        fine = self.config.timings.concurrency_period_s
        instances = max(round(instance_seconds / fine), 1)
        # Little's law: time-averaged requests in an instance = time spent in it / time.
        value = round(in_instance_s / instance_seconds, 3)
        visible_at = period_start + fine + self.config.timings.publication_delay_s
        self.sim.store.put(series_key(SAGEMAKER_NAMESPACE, CONCURRENCY_METRIC,
                                      self.sim.dimensions),
                           int(period_start), Datapoint.of_values({value: instances}), visible_at)

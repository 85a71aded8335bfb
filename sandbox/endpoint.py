"""The simulated endpoint: its instances (sandbox/instance.py), routing, and what they publish.

Every request that reaches the endpoint is counted in the period (epoch-aligned) in which it
finished. When a period ends its counters become ``AWS/SageMaker`` datapoints, and each serving
instance adds one ``/aws/sagemaker/Endpoints`` sample (CPU from the fraction of time its workers
were busy). An LLM instance also adds one ``ConcurrentRequestsPerModel`` sample (its
time-averaged requests queued and running) per high-resolution period: 10 s, as on AWS, even
where the standard metrics' period is a minute (``Timings.concurrency_period_s``). The sandbox
has one endpoint with one production variant, like the blog's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from sandbox.config import ROUTING_LEAST_OUTSTANDING, SandboxConfig
from sandbox.instance import (
    DRAINING,
    IN_SERVICE,
    INTERNAL_FAILURE,
    MODEL_ERROR,
    OK,
    PROVISIONING,
    TIMED_OUT,
    Instance,
    Route,
    Served,
    Sleeper,
)
from sandbox.metricstore import Cadence, Datapoint, LatencyRecorder, MetricStore, series_key
from sandbox.model import IrisModel

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
CONCURRENCY_METRIC = "ConcurrentRequestsPerModel"
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"

DISK_UTILIZATION = 9.6
MEMORY_BASELINE = 4.5  # percent of the instance's memory held by the model server when idle



class PeriodCounts:
    """Counters of one metric period; ``record`` is on the hot path, so it only adds."""

    __slots__ = ("e4xx", "e5xx", "index", "invocations", "model_errors", "model_latency",
                 "no_capacity", "overhead_latency", "per_instance")

    def __init__(self, index: int) -> None:
        self.index = index
        self.invocations = 0
        self.e4xx = 0
        self.e5xx = 0
        self.model_errors = 0
        self.no_capacity = 0  # refused: an inference component had no copy to serve
        self.per_instance: dict[int, int] = {}  # serving instances (or copies) -> invocations
        self.model_latency = LatencyRecorder()
        self.overhead_latency = LatencyRecorder()

    def add(self, served: Served, units: int, total_seconds: float, count: int = 1) -> None:
        """Count ``count`` invocations that ended alike while ``units`` instances (or copies)
        served."""
        self.invocations += count
        self.per_instance[units] = self.per_instance.get(units, 0) + count
        kind = served.kind
        if kind != OK:
            if kind == MODEL_ERROR:
                self.e4xx += count
                self.model_errors += count
            else:
                self.e5xx += count
                if kind == TIMED_OUT:
                    self.model_errors += count
        model_seconds = served.model_seconds
        if model_seconds is not None:
            self.model_latency.record(int(model_seconds * 1e6), count)
            total_seconds -= model_seconds
        self.overhead_latency.record(int(total_seconds * 1e6), count)

    def add_no_capacity(self) -> None:
        """A request refused because its inference component had no copy (a 4XX)."""
        self.invocations += 1
        self.e4xx += 1
        self.no_capacity += 1

    def points(self, per_unit_metric: str) -> dict[str, Datapoint]:
        """The period's ``AWS/SageMaker`` datapoints; ``per_unit_metric`` names the metric that
        divides each invocation among the serving units (InvocationsPerInstance or
        InvocationsPerCopy)."""
        n = self.invocations
        points = {
            "Invocations": Datapoint.of_values({1.0: n}),
            "Invocation4XXErrors": Datapoint.of_values({1.0: self.e4xx, 0.0: n - self.e4xx}),
            "Invocation5XXErrors": Datapoint.of_values({1.0: self.e5xx, 0.0: n - self.e5xx}),
            "InvocationModelErrors": Datapoint.of_values(
                {1.0: self.model_errors, 0.0: n - self.model_errors}),
        }
        if self.per_instance:
            # AWS sends 1/units on each request, so the Sum is invocations per unit.
            points[per_unit_metric] = Datapoint.of_values(
                {1.0 / k: count for k, count in self.per_instance.items()})
        model_latency = self.model_latency.take()
        if model_latency is not None:
            points["ModelLatency"] = model_latency
        overhead = self.overhead_latency.take()
        if overhead is not None:
            points["OverheadLatency"] = overhead
        return points


class Endpoint:
    """The one endpoint and its variant: instances, desired capacity, status and accounting."""

    def __init__(self, config: SandboxConfig, model: IrisModel, store: MetricStore,
                 now: float, rng: random.Random | None = None,
                 wall: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.config = config
        self.name = config.endpoint_name
        self.variant = config.variant
        self.profile = config.profile
        self.model = model
        self.store = store
        self._wall = wall
        self._clock = clock  # monotonic: throttling, busy time, concurrency samples
        self._rng = rng or random.Random(config.seed)
        self._sleeper = Sleeper()  # one per endpoint: all its instances share the event loop
        arn_prefix = f"arn:aws:sagemaker:{config.region}:{config.account_id}"
        self.arn = f"{arn_prefix}:endpoint/{self.name.lower()}"
        self.config_name = f"{self.name}-config"
        self.config_arn = f"{arn_prefix}:endpoint-config/{self.config_name.lower()}"
        self.model_name = f"{self.name}-iris-decision-tree"
        self.created = now
        self.last_modified = now
        self.update_started: float | None = None
        self._numbers = 0
        # An endpoint with inference components serves from their copies (sandbox/components.py)
        # on hosts of their own; the variant itself then holds no model server.
        own = 0 if config.components else config.initial_instances
        self.instances: list[Instance] = [self._new_instance(IN_SERVICE, now)
                                          for _ in range(own)]
        self.desired = own
        self._serving: list[Instance] = list(self.instances)
        self._period_s = int(config.timings.period_s)
        self._period = PeriodCounts(int(wall() // self._period_s))
        self._concurrency_s = int(config.timings.concurrency_period_s)
        self._cadence = Cadence(self._period_s, self._concurrency_s, wall())
        self._throttle_tokens = config.throttle_rps or 0.0
        self._throttle_at = clock()
        self.throttled = 0

    def _new_instance(self, state: str, ready_at: float) -> Instance:
        self._numbers += 1
        return Instance(self._numbers, self.profile, self.model, self._rng, state, ready_at,
                        self._sleeper, self._clock)

    # --- capacity -------------------------------------------------------------------------

    @property
    def current(self) -> int:
        """CurrentInstanceCount: instances serving, including ones being removed."""
        return len(self._serving)

    @property
    def status(self) -> str:
        return "Updating" if self.updating else "InService"

    @property
    def updating(self) -> bool:
        return any(i.state != IN_SERVICE for i in self.instances)

    def set_desired(self, count: int, now: float) -> None:
        """Start an update towards ``count`` instances (the endpoint reports Updating)."""
        if count < 1:
            raise ValueError("an endpoint needs at least one instance")
        timings = self.config.timings
        kept = [i for i in self.instances if i.state != DRAINING]
        if count > len(kept):
            for _ in range(count - len(kept)):
                self.instances.append(
                    self._new_instance(PROVISIONING, now + timings.provisioning_delay_s))
        elif count < len(kept):
            surplus = len(kept) - count
            # Instances not yet serving go first, then the newest serving ones.
            for instance in sorted(kept, key=lambda i: (i.state == IN_SERVICE, -i.number)):
                if surplus == 0:
                    break
                if instance.state == PROVISIONING:
                    self.instances.remove(instance)
                else:
                    instance.state = DRAINING
                    instance.leave_at = now + timings.deprovisioning_delay_s
                surplus -= 1
        if count != self.desired:
            self.desired = count
            self.last_modified = now
            if self.update_started is None and self.updating:
                self.update_started = now
        self._refresh_serving()

    def advance(self, now: float) -> bool:
        """Bring instances up or remove them as their delays pass; True if an update finished."""
        was_updating = self.updating
        for instance in list(self.instances):
            if instance.state == PROVISIONING and instance.ready_at <= now:
                instance.state = IN_SERVICE
            elif instance.state == DRAINING and instance.leave_at <= now:
                self.instances.remove(instance)
        self._refresh_serving()
        finished = was_updating and not self.updating
        if finished:
            self.last_modified = now
            self.update_started = None
        return finished

    def next_change_at(self) -> float | None:
        times = [i.ready_at for i in self.instances if i.state == PROVISIONING]
        times += [i.leave_at for i in self.instances if i.state == DRAINING]
        return min(times, default=None)

    def _refresh_serving(self) -> None:
        self._serving = [i for i in self.instances if i.state in (IN_SERVICE, DRAINING)]

    # --- serving ----------------------------------------------------------------------------

    def route(self) -> Instance:
        serving = self._serving
        if len(serving) == 1:
            return serving[0]
        if self.config.routing == ROUTING_LEAST_OUTSTANDING:
            # Start the scan at a random instance so ties do not always go to the first one.
            start = self._rng.randrange(len(serving))
            return min(serving[start:] + serving[:start], key=lambda i: i.outstanding)
        return serving[self._rng.randrange(len(serving))]

    def _throttle(self) -> bool:
        rate = self.config.throttle_rps
        if rate is None:
            return False
        now = self._clock()
        self._throttle_tokens = min(rate, self._throttle_tokens + (now - self._throttle_at) * rate)
        self._throttle_at = now
        if self._throttle_tokens < 1.0:
            self.throttled += 1
            return True
        self._throttle_tokens -= 1.0
        return False

    def routed(self) -> Route:
        """Where a plain invocation goes: one of the variant's instances."""
        return Route(self.route(), len(self._serving), self.record)

    def throttled_now(self) -> bool:
        """Is this invocation over ``throttle_rps``? (It is then counted nowhere else.)"""
        return self._throttle()

    async def invoke(self, body: bytes, content_type: str | None, received_at: float,
                     route: Route | None = None) -> Served:
        """Serve one invocation and count it; ``received_at`` is the handler's perf_counter().

        ``route`` is where it goes (an inference component's copy); the variant's instances
        when None."""
        route = route or self.routed()
        if self.config.internal_failure_rate and (
                self._rng.random() < self.config.internal_failure_rate):
            served = Served(INTERNAL_FAILURE, message="An internal failure occurred.")
        else:
            served = await route.server.serve(body, content_type)
        route.record(served, route.units, time.perf_counter() - received_at)
        return served

    def record(self, served: Served, instances: int, total_seconds: float,
               count: int = 1) -> None:
        """Count ``count`` invocations that ended alike (the virtual-time twin counts in bulk)."""
        index = int(self._wall() // self._period_s)
        period = self._period
        if index != period.index:
            self._close(period)
            period = self._period = PeriodCounts(index)
        period.add(served, instances, total_seconds, count)

    # --- publication ------------------------------------------------------------------------

    def publish(self, now: float) -> None:
        """Close the request period if it has ended; once per period, sample each instance
        (once per high-resolution period for ConcurrentRequestsPerModel)."""
        fine_start = self._cadence.fine_ended(now)
        if fine_start is not None:
            self._publish_concurrency(fine_start)
        index = int(now // self._period_s)
        if self._period.index < index:
            self._close(self._period)
            self._period = PeriodCounts(index)
        period_start = self._cadence.period_ended(now)
        if period_start is None:
            return
        visible_at = period_start + self._period_s + self.config.timings.publication_delay_s
        dims = self._dimensions()
        cpu: dict[float, int] = {}
        memory: dict[float, int] = {}
        for instance in self._serving:
            busy, peak = instance.take_utilization()
            value = round(100.0 * self.profile.vcpus * busy, 3)
            cpu[value] = cpu.get(value, 0) + 1
            used = round(MEMORY_BASELINE + 1.5 * peak, 3)
            memory[used] = memory.get(used, 0) + 1
        if cpu:
            put = self.store.put
            put(series_key(INSTANCE_NAMESPACE, "CPUUtilization", dims), period_start,
                Datapoint.of_values(cpu), visible_at)
            put(series_key(INSTANCE_NAMESPACE, "MemoryUtilization", dims), period_start,
                Datapoint.of_values(memory), visible_at)
            put(series_key(INSTANCE_NAMESPACE, "DiskUtilization", dims), period_start,
                Datapoint.of_values({DISK_UTILIZATION: len(self._serving)}), visible_at)

    def _publish_concurrency(self, period_start: int) -> None:
        concurrency: dict[float, int] = {}
        for instance in self._serving:
            if instance.engine is not None:
                value = round(instance.engine.take_concurrency(self._clock()), 3)
                concurrency[value] = concurrency.get(value, 0) + 1
        if concurrency:
            # One sample per instance (its time-averaged requests in flight), so Average is
            # the per-model figure the high-resolution scaling metric tracks.
            visible_at = (period_start + self._concurrency_s
                          + self.config.timings.publication_delay_s)
            self.store.put(series_key(SAGEMAKER_NAMESPACE, CONCURRENCY_METRIC,
                                      self._dimensions()),
                           period_start, Datapoint.of_values(concurrency), visible_at)

    def _dimensions(self) -> tuple[tuple[str, str], ...]:
        return (("EndpointName", self.name), ("VariantName", self.variant))

    def _close(self, period: PeriodCounts) -> None:
        if period.invocations == 0:
            return  # like SageMaker: no traffic, no invocation datapoints
        start = period.index * self._period_s
        visible_at = start + self._period_s + self.config.timings.publication_delay_s
        dims = self._dimensions()
        for name, point in period.points("InvocationsPerInstance").items():
            self.store.put(series_key(SAGEMAKER_NAMESPACE, name, dims), start, point, visible_at)

    def snapshot(self) -> dict[str, object]:
        """What /_sandbox/state shows about the endpoint and its instances."""
        return {
            "endpoint": self.name, "variant": self.variant, "status": self.status,
            "desired": self.desired, "current": self.current,
            "instance_type": self.profile.instance_type,
            "capacity_rps_per_instance": round(self.profile.capacity_rps, 1),
            "throttled": self.throttled,
            "model": {"predictions": self.model.stats.predictions,
                      "cache_hits": self.model.stats.cache_hits,
                      "rejected": self.model.stats.rejected},
            "instances": [
                {"number": i.number, "state": i.state, "busy": i.busy, "queued": i.queued,
                 "served": i.served,
                 "ready_at": i.ready_at if i.state == PROVISIONING else None,
                 "leave_at": i.leave_at if i.state == DRAINING else None}
                for i in self.instances
            ],
        }

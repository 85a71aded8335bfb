"""Inference components: copies of a model placed on an endpoint's instances, scaled per copy.

An endpoint with components has instances (``Host``) that serve nothing by themselves; each
copy of a component takes the cores, accelerators and memory its ComputeResourceRequirements
declare on one host, loads its model for ``load_s`` and then serves as its own model server
(an ``Instance`` with the component's serving profile). When a component wants more copies
than fit, managed instance scaling (``ManagedScaling``) adds a host, up to MaxInstanceCount;
the copy waits for it (provisioning delay), then loads. Hosts left without copies are released
down to MinInstanceCount once they have been idle ``idle_instance_release_s`` (AWS: about ten
minutes, then the deprovisioning delay), so a component scaled to zero copies takes the
instances to zero too, and a request soon after finds an instance still there.
``advance(now)`` does all of this; nothing here reads a clock except the period of a finished
request (``wall``), as in ``Endpoint``.

Each component publishes its own series in ``AWS/SageMaker`` with the single dimension
``InferenceComponentName`` (Invocations, InvocationsPerCopy, ModelLatency, OverheadLatency, the
error counts and NoCapacityInvocationFailures per standard period; ConcurrentRequestsPerCopy per
high-resolution period) and utilisation in ``/aws/sagemaker/InferenceComponents``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.config import ROUTING_LEAST_OUTSTANDING, ComponentConfig, SandboxConfig
from sandbox.endpoint import SAGEMAKER_NAMESPACE, PeriodCounts
from sandbox.errors import AwsError
from sandbox.instance import IN_SERVICE, Instance, Route, Served, Sleeper
from sandbox.metricstore import Cadence, Datapoint, MetricStore, series_key
from sandbox.model import IrisModel

COMPONENT_HEADER = "X-Amzn-SageMaker-Inference-Component"
COMPONENT_NAMESPACE = "/aws/sagemaker/InferenceComponents"
COMPONENT_DIMENSION = "InferenceComponentName"

# Host states (the instance underneath) and copy states.
HOST_PROVISIONING = "Provisioning"
HOST_IN_SERVICE = "InService"
HOST_DRAINING = "Draining"
COPY_WAITING = "WaitingForInstance"  # placed on a host that is still being provisioned
COPY_LOADING = "Loading"
COPY_IN_SERVICE = "InService"

# The runtime's answers, as AWS words them (sources in docs/sandbox.md).
NAME_MISSING = ("Inference Component Name header is required for endpoints to which you plan "
                "to deploy inference components. Please include Inference Component Name header "
                "or consider using SageMaker models.")
NO_CAPACITY = ("Inference Component has no capacity to process this request. "
               "ApplicationAutoScaling may be in-progress (if configured) or try to increase the "
               "capacity by invoking UpdateInferenceComponentRuntimeConfig API.")


@dataclass(slots=True)
class Host:
    """One instance of the variant: its room, and the copies placed on it."""

    number: int
    cores: float
    memory_mb: int
    accelerators: int
    state: str
    ready_at: float
    leave_at: float = 0.0
    empty_since: float | None = None  # when its last copy went (None: it holds copies)
    copies: list[Copy] = field(default_factory=list)

    def fits(self, spec: ComponentConfig) -> bool:
        cores = sum(c.spec.cores for c in self.copies)
        memory = sum(c.spec.memory_mb for c in self.copies)
        accelerators = sum(c.spec.accelerators for c in self.copies)
        return (cores + spec.cores <= self.cores + 1e-9
                and memory + spec.memory_mb <= self.memory_mb
                and accelerators + spec.accelerators <= self.accelerators)


@dataclass(slots=True)
class Copy:
    number: int
    spec: ComponentConfig
    host: Host
    state: str
    ready_at: float  # when a loading copy serves; for a waiting one, unknown until its host is up
    server: Instance


class Component:
    """One inference component: its desired and placed copies, and its metric period."""

    def __init__(self, spec: ComponentConfig, arn: str, now: float, period: PeriodCounts) -> None:
        self.spec = spec
        self.name = spec.name
        self.arn = arn
        self.created = now
        self.last_modified = now
        self.desired = spec.copies
        self.copies: list[Copy] = []
        self.period = period

    @property
    def current(self) -> int:
        """CurrentCopyCount: copies that serve."""
        return sum(1 for c in self.copies if c.state == COPY_IN_SERVICE)

    @property
    def serving(self) -> list[Copy]:
        return [c for c in self.copies if c.state == COPY_IN_SERVICE]

    @property
    def status(self) -> str:
        return "InService"  # copy-count changes leave the component InService, as on AWS


class Fleet:
    """The hosts of an endpoint with inference components, and the components on them."""

    def __init__(self, config: SandboxConfig, model: IrisModel, store: MetricStore, now: float,
                 record_endpoint: Callable[[Served, int, float], None],
                 rng: random.Random | None = None,
                 wall: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.config = config
        self.model = model
        self.store = store
        self.managed = config.managed_scaling
        self._record_endpoint = record_endpoint
        self._rng = rng or random.Random(config.seed)
        self._wall = wall
        self._clock = clock  # monotonic: busy time and concurrency samples of the copies
        self._sleeper = Sleeper()
        self._host_numbers = 0
        self._copy_numbers = 0
        self._period_s = int(config.timings.period_s)
        self._concurrency_s = int(config.timings.concurrency_period_s)
        self._cadence = Cadence(self._period_s, self._concurrency_s, wall())
        arn_prefix = f"arn:aws:sagemaker:{config.region}:{config.account_id}"
        self.hosts: list[Host] = [self._new_host(HOST_IN_SERVICE, now)
                                  for _ in range(config.initial_instances)]
        self.components: dict[str, Component] = {}
        for spec in config.components:
            self.components[spec.name] = Component(
                spec, f"{arn_prefix}:inference-component/{spec.name.lower()}", now,
                PeriodCounts(int(wall() // self._period_s)))
        self.last_change = now
        self.advance(now)
        # Copies asked for at creation are loaded already: the endpoint starts InService.
        for component in self.components.values():
            for copy in component.copies:
                if copy.state == COPY_LOADING:
                    copy.state = COPY_IN_SERVICE

    def _new_host(self, state: str, ready_at: float) -> Host:
        self._host_numbers += 1
        profile = self.config.profile
        return Host(self._host_numbers, float(profile.vcpus), int(profile.memory_gib * 1024),
                    profile.accelerators, state, ready_at)

    # --- capacity ---------------------------------------------------------------------------

    @property
    def current_instances(self) -> int:
        """CurrentInstanceCount: instances that are up, including ones being released."""
        return sum(1 for h in self.hosts if h.state != HOST_PROVISIONING)

    @property
    def desired_instances(self) -> int:
        return sum(1 for h in self.hosts if h.state != HOST_DRAINING)

    @property
    def updating(self) -> bool:
        return any(h.state != HOST_IN_SERVICE for h in self.hosts) or any(
            len(c.copies) != c.desired or c.current != c.desired
            for c in self.components.values())

    def component(self, name: str) -> Component | None:
        return self.components.get(name)

    def set_desired(self, name: str, copies: int, now: float) -> None:
        """Ask for ``copies`` copies of a component (UpdateInferenceComponentRuntimeConfig)."""
        component = self.components[name]
        if copies != component.desired:
            component.desired = copies
            component.last_modified = now
        self.advance(now)

    def advance(self, now: float) -> None:
        """Bring hosts up, place and load copies, remove surplus copies and release idle hosts."""
        for host in self.hosts:
            if host.state == HOST_PROVISIONING and host.ready_at <= now:
                host.state = HOST_IN_SERVICE
                for copy in host.copies:
                    copy.state = COPY_LOADING
                    copy.ready_at = host.ready_at + copy.spec.load_s
        for component in self.components.values():
            self._remove_surplus(component)
            for copy in component.copies:
                if copy.state == COPY_LOADING and copy.ready_at <= now:
                    copy.state = COPY_IN_SERVICE
                    component.last_modified = max(component.last_modified, copy.ready_at)
            self._place(component, now)
        self._release_idle(now)

    def _remove_surplus(self, component: Component) -> None:
        surplus = len(component.copies) - component.desired
        if surplus <= 0:
            return
        order = {COPY_WAITING: 0, COPY_LOADING: 1, COPY_IN_SERVICE: 2}
        # Copies not serving yet go first, then the newest serving ones.
        for copy in sorted(component.copies, key=lambda c: (order[c.state], -c.number)):
            if surplus == 0:
                break
            component.copies.remove(copy)
            copy.host.copies.remove(copy)
            surplus -= 1

    def _place(self, component: Component, now: float) -> None:
        while len(component.copies) < component.desired:
            host = self._room_for(component.spec, now)
            if host is None:
                return  # waits for room: a copy released elsewhere, or a higher maximum
            self._copy_numbers += 1
            spec = component.spec
            serving = spec.serving
            server = Instance(self._copy_numbers, serving, self.model, self._rng, IN_SERVICE,
                              now, self._sleeper, self._clock)
            if host.state == HOST_IN_SERVICE:
                copy = Copy(self._copy_numbers, spec, host, COPY_LOADING, now + spec.load_s,
                            server)
            else:
                copy = Copy(self._copy_numbers, spec, host, COPY_WAITING,
                            host.ready_at + spec.load_s, server)
            host.copies.append(copy)
            component.copies.append(copy)

    def _room_for(self, spec: ComponentConfig, now: float) -> Host | None:
        """A host with room for one more copy (serving ones first), or a new one if allowed."""
        candidates = [h for h in self.hosts if h.state != HOST_DRAINING and h.fits(spec)]
        if candidates:
            return min(candidates, key=lambda h: (h.state != HOST_IN_SERVICE, h.number))
        if self.managed is None or self.desired_instances >= self.managed.max_instances:
            return None
        host = self._new_host(HOST_PROVISIONING, now + self.config.timings.provisioning_delay_s)
        if not host.fits(spec):
            return None  # the copy asks for more than one instance has
        self.hosts.append(host)
        self.last_change = now
        return host

    def _release_idle(self, now: float) -> None:
        for host in list(self.hosts):
            if host.state == HOST_DRAINING and host.leave_at <= now:
                self.hosts.remove(host)
                self.last_change = now
        if self.managed is None:
            return
        timings = self.config.timings
        for host in sorted(self.hosts, key=lambda h: -h.number):
            if host.copies:
                host.empty_since = None
                continue
            if host.empty_since is None:
                host.empty_since = now
            if self.desired_instances <= self.managed.min_instances:
                continue
            if host.state == HOST_PROVISIONING:
                self.hosts.remove(host)
            elif host.state == HOST_IN_SERVICE and \
                    now >= host.empty_since + timings.idle_instance_release_s:
                host.state = HOST_DRAINING
                host.leave_at = now + timings.deprovisioning_delay_s
            else:
                continue
            self.last_change = now

    def next_change_at(self) -> float | None:
        times = [h.ready_at for h in self.hosts if h.state == HOST_PROVISIONING]
        times += [h.leave_at for h in self.hosts if h.state == HOST_DRAINING]
        release = self.config.timings.idle_instance_release_s
        times += [h.empty_since + release for h in self.hosts
                  if h.state == HOST_IN_SERVICE and h.empty_since is not None]
        times += [c.ready_at for comp in self.components.values() for c in comp.copies
                  if c.state == COPY_LOADING]
        return min(times, default=None)

    # --- serving ----------------------------------------------------------------------------

    def route(self, name: str | None, endpoint_name: str) -> Route:
        """The copy an invocation naming component ``name`` goes to, or the runtime's error."""
        if name is None:
            raise AwsError("ValidationError", NAME_MISSING,
                           fields={"ErrorCode": "INFERENCE_COMPONENT_NAME_MISSING"})
        component = self.components.get(name)
        if component is None:
            raise AwsError("ValidationError",
                           f"Inference Component {name} not found for endpoint {endpoint_name} "
                           f"of account {self.config.account_id}.")
        serving = component.serving
        if not serving:
            self._period_of(component).add_no_capacity()
            raise AwsError("ValidationError", NO_CAPACITY)
        if len(serving) == 1:
            copy = serving[0]
        elif self.config.routing == ROUTING_LEAST_OUTSTANDING:
            start = self._rng.randrange(len(serving))
            copy = min(serving[start:] + serving[:start], key=lambda c: c.server.outstanding)
        else:
            copy = serving[self._rng.randrange(len(serving))]

        def record(served: Served, units: int, total_seconds: float) -> None:
            self._period_of(component).add(served, units, total_seconds)
            self._record_endpoint(served, self.current_instances, total_seconds)

        return Route(copy.server, len(serving), record)

    def _period_of(self, component: Component) -> PeriodCounts:
        index = int(self._wall() // self._period_s)
        if component.period.index != index:
            self._close(component, component.period)
            component.period = PeriodCounts(index)
        return component.period

    # --- publication ------------------------------------------------------------------------

    def publish(self, now: float) -> None:
        """Close ended periods: per-component invocation series, ConcurrentRequestsPerCopy each
        high-resolution period, utilisation each standard period."""
        fine_start = self._cadence.fine_ended(now)
        if fine_start is not None:
            self._publish_concurrency(fine_start)
        index = int(now // self._period_s)
        for component in self.components.values():
            if component.period.index < index:
                self._close(component, component.period)
                component.period = PeriodCounts(index)
        period_start = self._cadence.period_ended(now)
        if period_start is None:
            return
        visible_at = period_start + self._period_s + self.config.timings.publication_delay_s
        for component in self.components.values():
            serving = component.serving
            if not serving:
                continue
            dims = _dimensions(component.name)
            cpu: dict[float, int] = {}
            memory: dict[float, int] = {}
            for copy in serving:
                busy, peak = copy.server.take_utilization()
                value = round(100.0 * busy, 3)  # normalised: 100 % is all its cores busy
                cpu[value] = cpu.get(value, 0) + 1
                used = round(50.0 + 40.0 * peak, 3)  # weights resident, plus the KV cache/queue
                memory[used] = memory.get(used, 0) + 1
            names = [("CPUUtilizationNormalized", cpu), ("MemoryUtilizationNormalized", memory)]
            if component.spec.accelerators:
                names += [("GPUUtilizationNormalized", cpu),
                          ("GPUMemoryUtilizationNormalized", memory)]
            for name, values in names:
                self.store.put(series_key(COMPONENT_NAMESPACE, name, dims), period_start,
                               Datapoint.of_values(values), visible_at)

    def _publish_concurrency(self, period_start: int) -> None:
        visible_at = period_start + self._concurrency_s + self.config.timings.publication_delay_s
        now = self._clock()
        for component in self.components.values():
            values: dict[float, int] = {}
            for copy in component.serving:
                engine = copy.server.engine
                value = round(engine.take_concurrency(now), 3) if engine is not None \
                    else float(copy.server.outstanding)
                values[value] = values.get(value, 0) + 1
            if values:
                # One sample per copy, so Average is the per-copy figure scaling tracks.
                self.store.put(series_key(SAGEMAKER_NAMESPACE, "ConcurrentRequestsPerCopy",
                                          _dimensions(component.name)),
                               period_start, Datapoint.of_values(values), visible_at)

    def _close(self, component: Component, period: PeriodCounts) -> None:
        if period.invocations == 0:
            return  # no traffic, no invocation datapoints, as on AWS
        start = period.index * self._period_s
        visible_at = start + self._period_s + self.config.timings.publication_delay_s
        dims = _dimensions(component.name)
        points = period.points("InvocationsPerCopy")
        points["NoCapacityInvocationFailures"] = Datapoint.of_values(
            {1.0: period.no_capacity, 0.0: period.invocations - period.no_capacity})
        for name, point in points.items():
            self.store.put(series_key(SAGEMAKER_NAMESPACE, name, dims), start, point, visible_at)

    def snapshot(self) -> dict[str, object]:
        """What /_sandbox/state shows about the hosts and components."""
        return {
            "instances": [{"number": h.number, "state": h.state,
                           "copies": [c.number for c in h.copies]} for h in self.hosts],
            "components": [{"name": c.name, "desired": c.desired, "current": c.current,
                            "copies": [{"number": k.number, "host": k.host.number,
                                        "state": k.state} for k in c.copies]}
                           for c in self.components.values()],
        }


def _dimensions(name: str) -> tuple[tuple[str, str], ...]:
    return ((COMPONENT_DIMENSION, name),)

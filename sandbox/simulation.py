"""One sandbox's state and clockwork: the endpoint, its metric store and the autoscaler.

``step(now)`` does everything that time drives: instances come up or leave as their delays
pass, ended periods are published, and the scaling alarms are evaluated once per finest period
(the high-resolution ConcurrentRequestsPerModel's 10 s when that is finer than the standard
minute) when that period's datapoints become visible (its end plus the publication delay), as
CloudWatch alarms see them; each policy looks only at its own metric's periods. The server
calls ``step`` at the times ``next_wakeup`` names; tests call it with whatever times they
like, so nothing here sleeps or reads a clock on its own except ``Endpoint`` attributing a
finished request to its period (``wall``) and timing busy workers (``clock``): both are
injectable, and twin/ runs the whole sandbox on a virtual clock through them.

An endpoint with inference components also has a ``Fleet`` (sandbox/components.py): its hosts
and copies advance here too, and the autoscaler scales a component's copies through it. The
CloudWatch alarms users create (sandbox/alarms.py) are evaluated at the same moments as the
scaling alarms and run the step scaling policies their actions name.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence

from sandbox.alarms import Alarm, Alarms
from sandbox.autoscaler import Actuator, Autoscaler, MetricSpec
from sandbox.components import Fleet
from sandbox.config import SandboxConfig
from sandbox.endpoint import Endpoint
from sandbox.metricstore import MetricStore, series_key
from sandbox.model import IrisModel
from sandbox.scaling_model import COMPONENT_PREFIX

# Alarms catch up at most this many periods after a stall (a suspended laptop, a debugger).
_MAX_CATCH_UP = 20


class Simulation(Actuator):
    def __init__(self, config: SandboxConfig, model: IrisModel | None = None,
                 now: float | None = None, wall: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        period = config.timings.period_s
        fine = config.timings.concurrency_period_s
        if period != int(period) or fine != int(fine):
            raise ValueError("the metric period must be a whole number of seconds")
        now = wall() if now is None else now
        self.config = config
        self.period = int(period)  # the standard metrics'
        self.tick = int(fine)  # the finest: ConcurrentRequestsPerModel's; the store's base
        self.model = model or IrisModel()
        self.store = MetricStore(self.tick)
        self.endpoint = Endpoint(config, self.model, self.store, now,
                                 rng=random.Random(config.seed), wall=wall, clock=clock)
        self.fleet = Fleet(config, self.model, self.store, now, self.endpoint.record,
                           rng=random.Random(config.seed), wall=wall, clock=clock) \
            if config.components else None
        self.alarms = Alarms()
        self.resource_id = f"endpoint/{config.endpoint_name}/variant/{config.variant}"
        self.autoscaler = Autoscaler(self, region=config.region, account_id=config.account_id,
                                     period_s=self.period, high_resolution_s=self.tick,
                                     default_cooldown_s=config.timings.default_cooldown_s)
        # The newest period whose alarms were evaluated; periods before the start have no data.
        self._evaluated = self._period_start(now) - self.tick

    def _period_start(self, t: float) -> int:
        return math.floor(t / self.tick) * self.tick

    @property
    def dimensions(self) -> tuple[tuple[str, str], ...]:
        return (("EndpointName", self.config.endpoint_name),
                ("VariantName", self.config.variant))

    def dimensions_of(self, resource_id: str) -> tuple[tuple[str, str], ...]:
        """The CloudWatch dimensions of a scalable resource's predefined metrics."""
        if resource_id.startswith(COMPONENT_PREFIX):
            return (("InferenceComponentName", resource_id[len(COMPONENT_PREFIX):]),)
        return self.dimensions

    # --- Actuator -------------------------------------------------------------------------

    def desired(self, resource_id: str) -> int | None:
        if resource_id.startswith(COMPONENT_PREFIX):
            component = None if self.fleet is None else \
                self.fleet.component(resource_id[len(COMPONENT_PREFIX):])
            return None if component is None else component.desired
        if resource_id != self.resource_id or self.fleet is not None:
            return None  # an endpoint with components scales its copies, not its variant
        return self.endpoint.desired

    def set_desired(self, resource_id: str, capacity: int, now: float) -> None:
        if resource_id.startswith(COMPONENT_PREFIX):
            assert self.fleet is not None
            self.fleet.set_desired(resource_id[len(COMPONENT_PREFIX):], capacity, now)
        else:
            self.endpoint.set_desired(capacity, now)

    def metric(self, spec: MetricSpec, last_period_start: int, count: int,
               now: float, period: int | None = None) -> Sequence[float | None]:
        key = series_key(spec.namespace, spec.name, spec.dimensions)
        return self.store.latest_values(key, last_period_start, count, spec.statistic, now,
                                        period)

    # --- clockwork ------------------------------------------------------------------------

    def _read_alarm_metric(self, namespace: str, name: str,
                           dimensions: tuple[tuple[str, str], ...], statistic: str, period: int,
                           last_period_start: int, count: int, now: float
                           ) -> list[float | None]:
        key = series_key(namespace, name, dimensions)
        start = last_period_start - (count - 1) * period
        found = dict(self.store.query(key, start, last_period_start + period, period, statistic,
                                      now))
        return [found.get(start + i * period) for i in range(count)]

    def _run_alarm_action(self, action: str, alarm: Alarm, value: float | None,
                          now: float) -> None:
        breach = None if value is None else value - alarm.threshold
        self.autoscaler.run_step_policy(action, breach, now)

    def _finish_updates(self, now: float) -> None:
        if self.fleet is None:
            if not self.endpoint.updating:
                self.autoscaler.update_finished(self.resource_id, now)
            return
        for name, component in self.fleet.components.items():
            if component.current == component.desired == len(component.copies):
                self.autoscaler.update_finished(COMPONENT_PREFIX + name, now)

    def step(self, now: float) -> None:
        """Advance everything time drives up to ``now`` (call with non-decreasing times)."""
        self.endpoint.advance(now)
        if self.fleet is not None:
            self.fleet.advance(now)
        self._finish_updates(now)
        self.endpoint.publish(now)
        if self.fleet is not None:
            self.fleet.publish(now)
        newest_visible = self._period_start(now - self.config.timings.publication_delay_s) \
            - self.tick
        start = max(self._evaluated + self.tick, newest_visible - _MAX_CATCH_UP * self.tick)
        for period_start in range(start, newest_visible + 1, self.tick):
            self.autoscaler.evaluate(now, period_start)
            self.alarms.evaluate(
                now, period_start + self.tick,
                lambda *query: self._read_alarm_metric(*query, now), self._run_alarm_action)
            self._evaluated = period_start
        # An activity may have asked for the capacity the endpoint already has.
        self._finish_updates(now)

    def next_wakeup(self, now: float) -> float:
        """The next time ``step`` has something to do."""
        times = [self._period_start(now) + self.tick,
                 self._evaluated + 2 * self.tick + self.config.timings.publication_delay_s]
        for change in (self.endpoint.next_change_at(),
                       None if self.fleet is None else self.fleet.next_change_at()):
            if change is not None:
                times.append(change)
        return max(min(times), now)

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
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence

from sandbox.autoscaler import Actuator, Autoscaler, MetricSpec
from sandbox.config import SandboxConfig
from sandbox.endpoint import Endpoint
from sandbox.metricstore import MetricStore, series_key
from sandbox.model import IrisModel

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

    # --- Actuator -------------------------------------------------------------------------

    def desired(self, resource_id: str) -> int | None:
        return self.endpoint.desired if resource_id == self.resource_id else None

    def set_desired(self, resource_id: str, capacity: int, now: float) -> None:
        self.endpoint.set_desired(capacity, now)

    def metric(self, spec: MetricSpec, last_period_start: int, count: int,
               now: float, period: int | None = None) -> Sequence[float | None]:
        key = series_key(spec.namespace, spec.name, spec.dimensions)
        return self.store.latest_values(key, last_period_start, count, spec.statistic, now,
                                        period)

    # --- clockwork ------------------------------------------------------------------------

    def step(self, now: float) -> None:
        """Advance everything time drives up to ``now`` (call with non-decreasing times)."""
        self.endpoint.advance(now)
        if not self.endpoint.updating:
            self.autoscaler.update_finished(self.resource_id, now)
        self.endpoint.publish(now)
        newest_visible = self._period_start(now - self.config.timings.publication_delay_s) \
            - self.tick
        start = max(self._evaluated + self.tick, newest_visible - _MAX_CATCH_UP * self.tick)
        for period_start in range(start, newest_visible + 1, self.tick):
            self.autoscaler.evaluate(now, period_start)
            self._evaluated = period_start
        if not self.endpoint.updating:
            # An activity may have asked for the capacity the endpoint already has.
            self.autoscaler.update_finished(self.resource_id, now)

    def next_wakeup(self, now: float) -> float:
        """The next time ``step`` has something to do."""
        times = [self._period_start(now) + self.tick,
                 self._evaluated + 2 * self.tick + self.config.timings.publication_delay_s]
        change = self.endpoint.next_change_at()
        if change is not None:
            times.append(change)
        return max(min(times), now)

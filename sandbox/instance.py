"""One simulated instance: worker slots in front of the real model, or an LLM's batching engine.

An instance has ``workers`` slots. A request takes a free slot or waits in the instance's
queue (at most ``queue_bound`` waiting, else 503); a slot is handed straight from a finishing
request to the oldest waiter. Holding a slot means: parse and predict with the real model,
then ``asyncio.sleep`` for the rest of a sampled service time, so saturation costs no CPU. A
request still unanswered ``container_timeout_s`` after it reached the instance fails with
ModelError, as SageMaker's container time limit does. An instance whose profile names an LLM
serves through a ``BatchEngine`` instead (sandbox/llm.py, driven by sandbox/llm_serving.py).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.config import InstanceProfile
from sandbox.llm import BatchEngine
from sandbox.model import IrisModel, ModelInputError

# Outcomes of one invocation.
OK = "ok"
MODEL_ERROR = "model_error"  # the container answered 4xx (bad payload): 424, counted as 4XX
TIMED_OUT = "timed_out"  # container time limit: 424, counted as 5XX
QUEUE_FULL = "queue_full"  # no room on the instance: 503, counted as 5XX
INTERNAL_FAILURE = "internal_failure"  # injected fault: 500, counted as 5XX
THROTTLED = "throttled"  # over throttle_rps: 400 ThrottlingException, counted nowhere

PROVISIONING = "Provisioning"
IN_SERVICE = "InService"
DRAINING = "Draining"  # being removed: still serving until the deprovisioning delay passes

TIMEOUT_MESSAGE = ("Your invocation timed out while waiting for a response from container "
                   "primary. Review the latency metrics for each container in Amazon "
                   "CloudWatch, resolve the issue, and try again.")
# Disk use of the simulated instance: a model artifact and a container image on the volume.


class Sleeper:
    """``asyncio.sleep`` that keeps simulated service times right on average.

    Event loops wake timers late: uvloop's clock has 1 ms resolution and a busy loop adds its
    own delay, so sleeping 9.5 ms took about 10.5 ms and an instance served 10 % below its
    nominal capacity. The sleeper keeps a moving average of how late it woke and asks for that
    much less next time.
    """

    __slots__ = ("lateness",)

    def __init__(self) -> None:
        self.lateness = 0.0

    async def sleep(self, seconds: float) -> None:
        asked = max(seconds - self.lateness, 0.0)
        started = time.perf_counter()
        await asyncio.sleep(asked)
        late = time.perf_counter() - started - asked
        self.lateness += 0.05 * (late - self.lateness)


@dataclass(slots=True)
class Served:
    kind: str
    body: bytes = b""
    message: str = ""
    original_status: int = 0
    model_seconds: float | None = None  # time inside the instance, None if it never got there


@dataclass(frozen=True, slots=True)
class Route:
    """Where one invocation goes: the server that answers it, how many serve beside it (for
    the per-instance or per-copy metric) and where its outcome is counted."""

    server: Instance
    units: int
    record: Callable[[Served, int, float], None]


class Instance:
    """One simulated instance: worker slots, a bounded queue, and busy-time bookkeeping."""

    def __init__(self, number: int, profile: InstanceProfile, model: IrisModel,
                 rng: random.Random, state: str, ready_at: float,
                 sleeper: Sleeper | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.number = number
        self.profile = profile
        self.state = state
        self.ready_at = ready_at  # wall time a Provisioning instance starts serving
        self.leave_at = math.inf  # wall time a Draining instance is removed
        self.busy = 0
        self.queued = 0
        self.served = 0
        self._model = model
        self._rng = rng
        self._sleeper = sleeper or Sleeper()
        self._clock = clock  # busy-time bookkeeping; a virtual clock in twin/ (issue 21)
        self._waiting: deque[asyncio.Future[bool]] = deque()
        self._busy_seconds = 0.0
        self._peak_outstanding = 0
        self._last_change = clock()
        self._window_start = self._last_change
        low = profile.service_time_ms / 5000.0
        high = (profile.service_time_ms + 4 * profile.jitter_ms) / 1000.0
        self._service_bounds = (low, high)
        # An LLM instance serves through its batching engine instead of worker slots.
        self.engine = None if profile.llm is None else BatchEngine(
            profile.llm, profile.queue_bound, profile.container_timeout_s, self._last_change)

    @property
    def outstanding(self) -> int:
        if self.engine is not None:
            return self.engine.in_flight
        return self.busy + self.queued

    def _set_busy(self, busy: int) -> None:
        now = self._clock()
        self._busy_seconds += self.busy * (now - self._last_change)
        self._last_change = now
        self.busy = busy

    def _sample_service_seconds(self) -> float:
        low, high = self._service_bounds
        sample = self._rng.gauss(self.profile.service_time_ms, self.profile.jitter_ms) / 1000.0
        return min(max(sample, low), high)

    async def serve(self, body: bytes, content_type: str | None) -> Served:
        started = time.perf_counter()
        timeout = self.profile.container_timeout_s
        if self.busy < self.profile.workers:
            self._set_busy(self.busy + 1)
        else:
            if self.queued >= self.profile.queue_bound:
                return Served(QUEUE_FULL, message="The endpoint's instance queue is full.")
            if not await self._wait_for_slot(timeout):
                return Served(TIMED_OUT, message=TIMEOUT_MESSAGE, model_seconds=timeout)
        if self.outstanding > self._peak_outstanding:
            self._peak_outstanding = self.outstanding
        began = time.perf_counter()  # a worker is ours: service time starts now
        try:
            try:
                answer = self._model.predict_csv(body, content_type)
            except ModelInputError as error:
                return Served(MODEL_ERROR, message=error.message, original_status=error.status,
                              model_seconds=time.perf_counter() - started)
            now = time.perf_counter()
            remaining = started + timeout - now
            # The prediction itself is part of the service time; sleep for the rest of it.
            rest = self._sample_service_seconds() - (now - began)
            if rest >= remaining:
                await self._sleeper.sleep(remaining)
                return Served(TIMED_OUT, message=TIMEOUT_MESSAGE, model_seconds=timeout)
            if rest > 0:
                await self._sleeper.sleep(rest)
            self.served += 1
            return Served(OK, body=answer, model_seconds=time.perf_counter() - started)
        finally:
            self._release()

    async def _wait_for_slot(self, timeout: float) -> bool:
        """Queue until a slot is handed over (True) or the container time limit passes (False)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(waiter)
        self.queued += 1
        if self.outstanding > self._peak_outstanding:
            self._peak_outstanding = self.outstanding
        expiry = loop.call_later(timeout, self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # The client went away: give back the slot if it had been handed over already.
            if waiter.cancelled():
                self.queued -= 1
            elif waiter.result():
                self._release()
            raise
        finally:
            expiry.cancel()

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            self.queued -= 1
            waiter.set_result(False)

    def _release(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self.queued -= 1
                waiter.set_result(True)  # the slot passes on; busy stays the same
                return
        self._set_busy(self.busy - 1)

    def account(self, busy_seconds: float, peak_outstanding: int) -> None:
        """Count work served outside ``serve`` (the virtual-time twin serves in bulk)."""
        self._busy_seconds += busy_seconds
        self._peak_outstanding = max(self._peak_outstanding, peak_outstanding)

    def take_utilization(self) -> tuple[float, float]:
        """(busy fraction of the workers, peak outstanding / (workers + queue)) since last call."""
        self._set_busy(self.busy)
        now = self._last_change
        elapsed = max(now - self._window_start, 1e-9)
        busy = min(self._busy_seconds / (elapsed * self.profile.workers), 1.0)
        room = self.profile.workers + self.profile.queue_bound
        peak = self._peak_outstanding / room
        self._busy_seconds = 0.0
        self._window_start = now
        self._peak_outstanding = self.outstanding
        return busy, peak

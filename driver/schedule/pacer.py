"""One worker's intended send times through the schedule (``driver.schedule.rate``).

Request j of the whole session is intended at C⁻¹(j) (even spacing) or at C⁻¹(E_j) for the
arrival times E_j of a unit-rate Poisson process; worker i of W takes every W-th request, so the
merged stream is the same whatever W is. Pure: times are seconds since the start, passed in.
"""

from __future__ import annotations

import math
import random

from driver.schedule.rate import RateFunction


class Pacer:
    """Intended send times for one worker's share of the session's requests.

    Worker ``index`` of ``workers`` sends requests j = k·W + i. Changing the rate function
    mid-run keeps the sequence consistent because functions only differ after the change time.
    """

    def __init__(
        self,
        rate: RateFunction,
        index: int = 0,
        workers: int = 1,
        arrivals: str = "even",
        seed: int | None = None,
    ) -> None:
        self.rate = rate
        self.index = index
        self.workers = workers
        self.poisson = arrivals == "poisson"
        self._random = random.Random(seed if seed is not None else 0x10AD + index)
        self.sent = 0  # this worker's requests handed out so far
        self._poisson_position = 0.0
        # The rate function and constant-rate piece of the last peek (``RateFunction.
        # constant_span``); a new rate function (live control) is looked up afresh.
        self._span: tuple[RateFunction, float, float, float, float, float] | None = None

    def _global_position(self) -> float:
        if self.poisson:
            return self._poisson_position
        return float(self.sent * self.workers + self.index)

    def peek(self) -> float | None:
        """Intended time of the next request, without taking it; None when the schedule ends."""
        if self.poisson:
            if self.sent == 0 and self._poisson_position == 0.0:
                self._advance_poisson()
            return self.rate.time_of(self._poisson_position)
        position = float(self.sent * self.workers + self.index)
        span = self._span
        if span is not None and span[0] is self.rate and span[1] <= position < span[2]:
            # Inside a constant-rate piece: time_of's exact value, without its search.
            x = (position - span[1]) / span[4]
            return span[3] + (x if x < span[5] else span[5])
        rate = self.rate
        found = rate.constant_span(position)
        self._span = None if found is None else (rate, *found)
        return rate.time_of(position)

    def take(self) -> None:
        self.sent += 1
        if self.poisson:
            self._advance_poisson()

    def skip_until(self, t: float, limit: int = 100_000) -> int:
        """Take every request due by ``t`` (at most ``limit``) without sending; how many.

        The worker drops due requests in bulk when its in-flight cap is reached: one at a
        time, an absurd rate (10 million req/s) kept it counting instead of sending.
        """
        if not self.poisson:
            # Request at global position p is due by t when p <= C(t); never past the end.
            due = min(self.rate.count_at(t), math.nextafter(self.rate.total, 0.0))
            last = math.floor((due - self.index) / self.workers)
            count = max(0, min(last - self.sent + 1, limit))
            self.sent += count
            return count
        count = 0
        while count < limit:
            intended = self.peek()
            if intended is None or intended > t:
                break
            self.take()
            count += 1
        return count

    def remaining(self) -> int:
        """Requests of this worker's share not yet taken (Poisson arrivals: the expected
        number); taking them all."""
        total = self.rate.total
        if self.poisson:
            count = max(0, round((total - self._global_position()) / self.workers))
        else:
            count = max(0, math.ceil((total - self.index) / self.workers) - self.sent)
        self.sent += count
        if self.poisson:
            self._poisson_position = total
        return count

    def _advance_poisson(self) -> None:
        # This worker's arrivals form a Poisson process of rate r(t)/W: unit-rate gaps
        # stretched by W in count space.
        self._poisson_position += self._random.expovariate(1.0) * self.workers

    def start_at(self, t: float) -> None:
        """Begin mid-schedule at elapsed ``t`` (a replacement worker): this share's requests
        intended before ``t`` are skipped, the next one handed out is the first due at ``t``
        or later, exactly the one the worker it replaces would have sent next."""
        if t <= 0:
            return
        if self.poisson:
            if self.sent == 0 and self._poisson_position == 0.0:
                self._advance_poisson()
            while self._poisson_position < self.rate.count_at(t) and self.rate.time_of(
                    self._poisson_position) is not None:
                self.take()
            return
        before = self.rate.requests_before(t)  # requests j < before are intended before t
        self.sent = max(self.sent, math.ceil((before - self.index) / self.workers))

    def due_between(self, a: float, b: float) -> float:
        """This worker's share of the requests the schedule wants in [a, b)."""
        return (self.rate.count_at(b) - self.rate.count_at(a)) / self.workers

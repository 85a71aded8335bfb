"""The open-model schedule: a pure function from request index to intended send time.

The rate over time is a piecewise-linear function r(t) built from the profile's phases
(constant rates, linear ramps, pauses) and then reshaped by live control (absolute rate, a
factor of the schedule, pause). Its integral C(t) counts the requests due by time t; the j-th
request of the whole session is intended at C⁻¹(j) (even spacing) or at C⁻¹(E_j) where E_j are
the arrival times of a unit-rate Poisson process (which makes the arrivals a non-homogeneous
Poisson process of rate r(t)). Worker i of W takes every W-th request, so the merged stream is
the same whatever W is.

Nothing here reads a clock: times are seconds since the session started, passed in.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    duration: float  # seconds
    rate_start: float  # requests per second at the start of the phase
    rate_end: float  # at the end; equal to rate_start for a constant phase
    pause: bool = False

    @property
    def requests(self) -> float:
        return 0.0 if self.pause else (self.rate_start + self.rate_end) / 2 * self.duration


@dataclass(frozen=True, slots=True)
class Piece:
    """Rate going linearly from r0 at t0 to r1 at t1."""

    t0: float
    t1: float
    r0: float
    r1: float
    phase_index: int

    def rate_at(self, t: float) -> float:
        if self.t1 <= self.t0:
            return self.r0
        return self.r0 + (self.r1 - self.r0) * (t - self.t0) / (self.t1 - self.t0)

    def count_between(self, a: float, b: float) -> float:
        """Requests due between times a and b inside this piece."""
        return (self.rate_at(a) + self.rate_at(b)) / 2 * (b - a)


@dataclass(frozen=True, slots=True)
class Control:
    """Live control in force from ``at``: the rate mode and whether load is paused.

    mode: ``schedule`` (the profile's rate), ``absolute`` (``value`` requests per second), or
    ``factor`` (``value`` times the profile's rate).
    """

    at: float
    mode: str = "schedule"
    value: float = 1.0
    paused: bool = False

    def transform(self, piece: Piece) -> Piece:
        if self.paused:
            return replace(piece, r0=0.0, r1=0.0)
        if self.mode == "absolute":
            return replace(piece, r0=self.value, r1=self.value)
        if self.mode == "factor":
            return replace(piece, r0=piece.r0 * self.value, r1=piece.r1 * self.value)
        return piece


class RateFunction:
    """Piecewise-linear r(t) with its integral C(t) and the inverse C⁻¹."""

    def __init__(self, pieces: Sequence[Piece]) -> None:
        self.pieces = list(pieces)
        self._starts = [p.t0 for p in self.pieces]
        self._cumulative = [0.0]
        for piece in self.pieces:
            self._cumulative.append(
                _whole(self._cumulative[-1] + piece.count_between(piece.t0, piece.t1)))

    @classmethod
    def from_phases(cls, phases: Sequence[Phase]) -> RateFunction:
        pieces, t = [], 0.0
        for index, phase in enumerate(phases):
            r0, r1 = (0.0, 0.0) if phase.pause else (phase.rate_start, phase.rate_end)
            pieces.append(Piece(t, t + phase.duration, r0, r1, index))
            t += phase.duration
        return cls(pieces)

    @property
    def duration(self) -> float:
        return self.pieces[-1].t1 if self.pieces else 0.0

    @property
    def total(self) -> float:
        """Requests due over the whole function."""
        return self._cumulative[-1]

    def _piece_index(self, t: float) -> int:
        return max(0, bisect.bisect_right(self._starts, t) - 1)

    def phase_index_at(self, t: float) -> int:
        if not self.pieces:
            return 0
        return self.pieces[self._piece_index(min(t, self.duration))].phase_index

    def rate_at(self, t: float) -> float:
        if not self.pieces or t < 0 or t >= self.duration:
            return 0.0
        return self.pieces[self._piece_index(t)].rate_at(t)

    def count_at(self, t: float) -> float:
        """C(t): requests due in [0, t]."""
        if not self.pieces or t <= 0:
            return 0.0
        if t >= self.duration:
            return self.total
        i = self._piece_index(t)
        piece = self.pieces[i]
        return self._cumulative[i] + piece.count_between(piece.t0, t)

    def requests_before(self, t: float) -> int:
        """How many requests are sent in [0, t): request j goes at C⁻¹(j), so every j < C(t).

        The first request of a schedule goes at 0, so a phase due 0.001 requests sends one.
        """
        return math.ceil(self.count_at(t))

    def time_of(self, count: float) -> float | None:
        """C⁻¹(count): the earliest time by which `count` requests are due; None past the end."""
        if count < 0:
            return 0.0
        if count >= self.total:
            return None
        i = bisect.bisect_right(self._cumulative, count) - 1
        piece = self.pieces[i]
        remaining = count - self._cumulative[i]
        width = piece.t1 - piece.t0
        a = (piece.r1 - piece.r0) / (2 * width) if width > 0 else 0.0
        b = piece.r0
        # Solve a·x² + b·x = remaining for x in [0, width]; this form is stable for a of
        # either sign and for b = 0 (a ramp starting from zero).
        disc = max(b * b + 4 * a * remaining, 0.0)
        denominator = b + math.sqrt(disc)
        x = 2 * remaining / denominator if denominator > 0 else 0.0
        return piece.t0 + min(max(x, 0.0), width)

    def constant_span(self, count: float) -> tuple[float, float, float, float, float] | None:
        """Where ``time_of`` is linear around ``count``: (first count, end count, start time,
        rate, width) of the constant-rate piece holding it, None if that piece is a ramp,
        a pause or past the end. Inside it ``time_of(c)`` equals ``start + min((c - first) /
        rate, width)`` to the last bit (with a = 0 the root below is exactly that), which the
        pacer uses to skip the search and the square root at every request."""
        if count < 0 or count >= self.total:
            return None
        i = bisect.bisect_right(self._cumulative, count) - 1
        piece = self.pieces[i]
        if piece.r0 != piece.r1 or piece.r0 <= 0 or piece.t1 <= piece.t0:
            return None
        return (self._cumulative[i], self._cumulative[i + 1], piece.t0, piece.r0,
                piece.t1 - piece.t0)

    def with_controls(self, controls: Sequence[Control]) -> RateFunction:
        """This function reshaped by live control; controls sorted by ``at``."""
        if not controls:
            return self
        cuts = sorted({c.at for c in controls if 0 < c.at < self.duration})
        pieces: list[Piece] = []
        for piece in self.pieces:
            edges = [piece.t0] + [t for t in cuts if piece.t0 < t < piece.t1] + [piece.t1]
            for a, b in itertools.pairwise(edges):
                part = Piece(a, b, piece.rate_at(a), piece.rate_at(b), piece.phase_index)
                control = _control_at(controls, a)
                pieces.append(control.transform(part) if control else part)
        return RateFunction(pieces)


def _whole(count: float) -> float:
    """``count``, or the whole number it is within float noise of (100 is not 100.0000001)."""
    nearest = round(count)
    return float(nearest) if abs(count - nearest) <= 1e-9 * max(1.0, abs(count)) else count


def _control_at(controls: Sequence[Control], t: float) -> Control | None:
    found = None
    for control in controls:
        if control.at <= t:
            found = control
        else:
            break
    return found


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

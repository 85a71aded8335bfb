"""The open-model schedule's rate: r(t) from the phases, reshaped by live control.

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

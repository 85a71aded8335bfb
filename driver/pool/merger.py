"""Merging the workers' per-second ticks into one tick per second, in order.

Three things beyond the plain merge:

- **A lost share.** When a worker is lost, the seconds it did not report (until its
  replacement takes over, or to the end) get its share of the plan as ``target_rps`` and
  ``not_sent``: the recorded target stays the plan's target, and what nobody sent shows.
- **Late ticks.** With a ``deadline``, a second whose ticks have not all arrived that long
  after it ended is released with the workers that reported (a slow node must not freeze the
  live view). A tick that arrives for a second already released is not lost and not counted
  twice: it is merged into the next second released (its counts land one second late, the
  total is exact) and counted in ``late_ticks``.
- **Totals.** Each worker incarnation's reported ``sent``/``completed`` are summed, so the
  session can check them against the totals the worker says in ``Done``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from driver.schedule import Phase, RateFunction
from metrics.llm import merge_llm
from metrics.records import Tick
from metrics.stats import merge_ticks


@dataclass
class Reported:
    """What one worker incarnation has reported so far."""

    worker: int
    sent: int = 0
    completed: int = 0
    not_sent: int = 0
    last_second: int = -1
    first_second: int = 0
    lost: bool = False


class TickMerger:
    """Holds each second's ticks until every live worker has reported it (or the deadline)."""

    def __init__(self, workers: Iterable[int], phases: list[Phase], *, count: int = 0,
                 rate: RateFunction | None = None) -> None:
        self.live = set(workers)
        self.phases = phases
        self._phase_rate = RateFunction.from_phases(phases)
        self.rate = rate or self._phase_rate  # the plan with live control: set by the session
        self.count = count or len(self.live) or 1  # W: how the plan is shared
        self._pending: dict[int, dict[int, Tick]] = {}
        self._late: list[Tick] = []
        self.late_ticks = 0
        self.released = -1  # the last second released
        self.epoch0 = 0.0  # UTC of elapsed 0, for seconds the merger fills itself
        # worker -> (first second not reported, first second covered again or None)
        self.gaps: dict[int, list[int | None]] = {}
        self.current: dict[int, Reported] = {w: Reported(w) for w in self.live}
        self.incarnations: list[Reported] = list(self.current.values())

    # --- input ------------------------------------------------------------------------

    def add(self, worker: int, tick: Tick) -> list[Tick]:
        """Take one worker's tick; return the merged seconds now complete."""
        reported = self.current.get(worker)
        if reported is not None:
            reported.sent += tick.sent
            reported.completed += tick.completed
            reported.not_sent += tick.not_sent
            reported.last_second = max(reported.last_second, tick.second)
        if tick.second <= self.released:
            self._late.append(tick)
            self.late_ticks += 1
            return []
        self._pending.setdefault(tick.second, {})[worker] = tick
        return self.ready()

    def worker_ended(self, worker: int) -> list[Tick]:
        """Stop waiting for ``worker`` (it said Done); return the seconds that completes."""
        self.live.discard(worker)
        return self.ready()

    def worker_lost(self, worker: int, until: int | None = None) -> Reported | None:
        """``worker`` ended without Done: its share of every second it did not report, up to
        ``until`` (None: until a replacement joins or the end), is counted as not sent."""
        self.live.discard(worker)
        reported = self.current.get(worker)
        if reported is None:
            return None
        reported.lost = True
        start = max(reported.last_second + 1, reported.first_second, self.released + 1)
        self.gaps[worker] = [start, until]
        return reported

    def close_gap(self, worker: int, until: int) -> None:
        """The lost share of ``worker`` stops being counted from second ``until``."""
        gap = self.gaps.get(worker)
        if gap is not None and (gap[1] is None or gap[1] > until):
            gap[1] = max(until, gap[0])  # type: ignore[type-var]

    def close_all(self, until: int) -> None:
        """Sending stopped (kill, stop, an incomplete run): no share is due from ``until``."""
        for worker in self.gaps:
            self.close_gap(worker, until)

    def worker_joined(self, worker: int, first_second: int) -> None:
        """A replacement for ``worker`` reports from ``first_second`` on."""
        self.close_gap(worker, first_second)
        reported = Reported(worker, first_second=first_second, last_second=first_second - 1)
        self.current[worker] = reported
        self.incarnations.append(reported)
        self.live.add(worker)

    # --- output -----------------------------------------------------------------------

    def ready(self, force: bool = False, now: float | None = None,
              deadline: float | None = None) -> list[Tick]:
        """Merged ticks, in order, for every second all live workers have reported.

        With ``now`` and ``deadline`` (elapsed seconds), also every second that ended more
        than ``deadline`` ago. With ``force``, every second held (the end of the run).
        """
        out = []
        for second in sorted(self._pending):
            parts = self._pending[second]
            waiting = {w for w in self.live if self.current[w].first_second <= second}
            overdue = now is not None and deadline is not None and now >= second + 1 + deadline
            if not force and not overdue and not waiting <= parts.keys():
                break
            del self._pending[second]
            out.extend(self._merge(gap, []) for gap in range(self.released + 1, second)
                       if self._lost_shares(gap))  # seconds only a lost share was due in
            out.append(self._merge(second, [parts[i] for i in sorted(parts)]))
        if force:
            out.extend(self._flush_gaps())
        return out

    def _merge(self, second: int, parts: list[Tick]) -> Tick:
        if not parts:  # nobody reported this second: late ticks or a lost share fill it
            parts = [self._empty(second)]
        parts = parts + self._late
        merged = merge_llm(merge_ticks(parts), parts)
        self._late = []
        for share, target in self._lost_shares(second):
            merged.not_sent += share
            merged.target_rps += target
        merged.phase_index = self._phase_rate.phase_index_at(float(second))
        merged.phase = self.phases[merged.phase_index].name
        self.released = max(self.released, second)
        return merged

    def _empty(self, second: int) -> Tick:
        return Tick(second=second, t=self.epoch0 + second, elapsed=float(second), phase=None,
                    phase_index=0, target_rps=0.0, workers=0,
                    in_schedule=second < self._phase_rate.duration)

    def _lost_shares(self, second: int) -> list[tuple[int, float]]:
        out = []
        for worker, (start, until) in self.gaps.items():
            if second < start or (until is not None and second >= until):  # type: ignore[operator]
                continue
            if second >= self.rate.duration:
                continue
            out.append((self.share_before(worker, second + 1)
                        - self.share_before(worker, second),
                        (self.rate.count_at(second + 1) - self.rate.count_at(second))
                        / self.count))
        return out

    def share_before(self, worker: int, t: float) -> int:
        """Requests of worker ``worker``'s share (j = k·W + i) due before elapsed ``t``."""
        return max(0, math.ceil((self.rate.requests_before(t) - worker) / self.count))

    def _flush_gaps(self) -> list[Tick]:
        """At the end: seconds nobody reported but a lost share was due in, and late ticks."""
        out = [self._merge(second, []) for second in range(self.released + 1,
                                                           math.ceil(self.rate.duration))
               if self._lost_shares(second)]
        if self._late:  # late ticks after the last second: one more record holds them
            out.append(self._merge(self.released + 1, []))
        return out

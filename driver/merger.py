"""Merging the workers' per-second ticks into one tick per second, in order."""

from __future__ import annotations

from collections.abc import Iterable

from driver.schedule import Phase, RateFunction
from metrics.llm import merge_llm
from metrics.records import Tick
from metrics.stats import merge_ticks


class TickMerger:
    """Holds each second's ticks until every live worker has reported it.

    A second is released (merged, stamped with its phase) once all workers still running have
    sent their tick for it; a worker that ends stops being waited for.
    """

    def __init__(self, workers: Iterable[int], phases: list[Phase]) -> None:
        self.live = set(workers)
        self.phases = phases
        self._rate = RateFunction.from_phases(phases)
        self._pending: dict[int, dict[int, Tick]] = {}

    def add(self, worker: int, tick: Tick) -> list[Tick]:
        """Take one worker's tick; return the merged seconds now complete."""
        self._pending.setdefault(tick.second, {})[worker] = tick
        return self.ready()

    def worker_ended(self, worker: int) -> list[Tick]:
        """Stop waiting for ``worker``; return the merged seconds that completes."""
        self.live.discard(worker)
        return self.ready()

    def ready(self, force: bool = False) -> list[Tick]:
        """Merged ticks, in order, for every second all live workers have reported.

        With ``force``, every second held, reported by all or not (the end of the run).
        """
        out = []
        for second in sorted(self._pending):
            parts = self._pending[second]
            if not force and not self.live <= parts.keys():
                break
            del self._pending[second]
            ordered = [parts[i] for i in sorted(parts)]
            merged = merge_llm(merge_ticks(ordered), ordered)
            merged.phase_index = self._rate.phase_index_at(float(second))
            merged.phase = self.phases[merged.phase_index].name
            out.append(merged)
        return out

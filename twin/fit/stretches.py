"""Fast and slow stretches: one instance's capacity as two numbers, from seconds a queue stood.

While requests queue for the whole of a second the instance is busy all of it, so the requests
it completed in that second are its capacity in that second. A CPU-bound server on a host whose
cores are shared serves at two speeds, switching every few seconds (docs/twin.md); one capacity
cannot reproduce its p99 near saturation, two stretches can. The seconds counted here: one
instance serving, a queue standing through the second and its neighbours (requests in flight
at least ``QUEUED`` and ``QUEUED_PER_WORKER`` per worker), nothing timed out. Their successful
counts are split into two groups (one-dimensional k-means); a ratio between the groups' means
under ``MIN_RATIO``, or fewer than ``MIN_SECONDS`` in either, is one capacity. A stretch's mean
length is the seconds of its kind over the number of unbroken stretches of that kind, within
each unbroken run of queued seconds: a stretch cut by the run's end counts as whole, so the
lengths are a lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metrics.recording import Recording
from metrics.records import OK, TIMEOUT, EndpointState, Tick
from twin.model import Stretches

QUEUED = 8
QUEUED_PER_WORKER = 4
MIN_RATIO = 1.2
MIN_SECONDS = 4


@dataclass(frozen=True, slots=True)
class StretchFit:
    stretches: Stretches | None
    spans: list[tuple[str, int, int]]  # (recording, first, last) of each run of queued seconds
    how: str


def queued_seconds(recordings: Sequence[Recording],
                   workers: int) -> list[list[tuple[str, int, int]]]:
    """Unbroken runs of queued seconds, each as (recording, second, successful completions)."""
    floor = max(QUEUED, QUEUED_PER_WORKER * workers)
    runs: list[list[tuple[str, int, int]]] = []
    for recording in recordings:
        if any(isinstance(r, EndpointState) and r.variants
               and r.variants[0].get("current", 1) > 1 for r in recording.records):
            continue  # more than one instance served at some point: not one instance's
        by_second: dict[int, list[Tick]] = {}
        for record in recording.records:
            if isinstance(record, Tick):
                by_second.setdefault(record.second, []).append(record)

        queued = {second for second, ticks in by_second.items()
                  if sum(t.in_flight for t in ticks) >= floor}
        run: list[tuple[str, int, int]] = []
        for second in sorted(by_second):
            ticks = by_second[second]
            counted = ({second - 1, second, second + 1} <= queued
                       and not sum(t.outcomes.get(TIMEOUT, 0) for t in ticks))
            if counted and run and run[-1][1] != second - 1:
                runs.append(run)
                run = []
            if counted:
                run.append((str(recording.path), second,
                            sum(t.outcomes.get(OK, 0) for t in ticks)))
        if run:
            runs.append(run)
    return runs


def fit_stretches(recordings: Sequence[Recording], workers: int) -> StretchFit:
    runs = queued_seconds(recordings, workers)
    counted = [(run[0][0], run[0][1], run[-1][1]) for run in runs]
    served = np.array([ok for run in runs for _, _, ok in run], dtype=np.float64)
    if len(served) < 2 * MIN_SECONDS:
        return StretchFit(None, counted, f"{len(served)} seconds with a standing queue: too "
                                         f"few to see stretches (at least {2 * MIN_SECONDS})")
    slow = _two_groups(served)
    if slow.sum() < MIN_SECONDS or (~slow).sum() < MIN_SECONDS or \
            served[~slow].mean() < MIN_RATIO * served[slow].mean():
        return StretchFit(None, counted, f"{len(served)} seconds with a standing queue served "
                                         f"{served.min():g}-{served.max():g} req/s: one capacity "
                                         f"(no two groups {MIN_RATIO:g}x apart)")
    fast_rps, slow_rps = float(served[~slow].mean()), float(served[slow].mean())
    labels = iter(slow.tolist())
    stretches = {True: 0, False: 0}
    for run in runs:
        kinds = [next(labels) for _ in run]
        for i, kind in enumerate(kinds):
            if i == 0 or kinds[i - 1] != kind:
                stretches[kind] += 1
    fast_s = float((~slow).sum()) / max(stretches[False], 1)
    slow_s = float(slow.sum()) / max(stretches[True], 1)
    how = (f"{len(served)} seconds with a standing queue (one instance busy all second): "
           f"{int((~slow).sum())} served {fast_rps:.0f} req/s on average, {int(slow.sum())} "
           f"served {slow_rps:.0f} ({stretches[False]} fast and {stretches[True]} slow "
           "stretches; a stretch cut by its run's end counts as whole: lengths are a lower "
           "bound)")
    return StretchFit(Stretches(fast_rps, slow_rps, fast_s, slow_s), counted, how)


def _two_groups(values: np.ndarray) -> np.ndarray:
    """One-dimensional 2-means: True for the values in the lower group."""
    low, high = np.percentile(values, 25), np.percentile(values, 75)
    lower = values < (low + high) / 2
    for _ in range(50):
        if lower.all() or not lower.any():
            break
        low, high = values[lower].mean(), values[~lower].mean()
        moved = values < (low + high) / 2
        if (moved == lower).all():
            break
        lower = moved
    return lower

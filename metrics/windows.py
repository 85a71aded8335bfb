"""A run's phases as windows of elapsed time, and the latency objective it is held to."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from metrics.records import Header, Tick

# Used when neither --slo-ms nor a profile's ensure p99 names a latency objective: well above a
# healthy model's tens of milliseconds, well below the hundreds a saturated endpoint queues to.
DEFAULT_SLO_MS = 100.0


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of elapsed seconds [start, end); ``end`` None runs to the recording's end."""

    name: str
    index: int
    start: float
    end: float | None = None

    def __contains__(self, x: float) -> bool:
        return x >= self.start and (self.end is None or x < self.end)

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


TOTAL = Window("total", -1, -math.inf, None)


def plan_windows(header: Header, ticks: Iterable[Tick] = ()) -> list[Window]:
    """The phases of a run as windows: from the header's plan, else from the ticks' phases."""
    plan = header.meta.get("plan") if isinstance(header.meta, dict) else None
    windows: list[Window] = []
    if isinstance(plan, list) and plan:
        for index, phase in enumerate(plan):
            try:
                start = float(phase["start"])
                end = start + float(phase["duration"])
            except (KeyError, TypeError, ValueError):
                windows = []
                break
            windows.append(Window(str(phase.get("name") or f"phase {index + 1}"), index,
                                  start, end))
    if not windows:
        first: dict[int, tuple[int, str | None]] = {}
        for tick in ticks:
            first.setdefault(tick.phase_index, (tick.second, tick.phase))
        ordered = sorted(first.items(), key=lambda item: item[1][0])
        for i, (index, (start, name)) in enumerate(ordered):
            end = ordered[i + 1][1][0] if i + 1 < len(ordered) else None
            windows.append(Window(name or f"phase {index + 1}", index, float(start),
                                  None if end is None else float(end)))
    if windows:
        last = windows[-1]
        windows[-1] = Window(last.name, last.index, last.start, None)
    return windows


def profile_slo_ms(header: Header) -> float | None:
    """The p99 limit of the run's ``ensure`` thresholds, if it set one."""
    thresholds = header.meta.get("ensure") if isinstance(header.meta, dict) else None
    if isinstance(thresholds, dict):
        value = thresholds.get("p99")
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return None


def resolve_slo(explicit: float | None, headers: Iterable[Header]) -> tuple[float, str]:
    """The latency objective in ms and where it came from: the flag, a profile, the default."""
    if explicit is not None:
        return float(explicit), "--slo-ms"
    for header in headers:
        value = profile_slo_ms(header)
        if value is not None:
            return value, "the profile's ensure p99"
    return DEFAULT_SLO_MS, "default"

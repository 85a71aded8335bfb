"""A run's phases as windows of elapsed time, and the latency objective it is held to.

A run is held to one latency objective on one per-second series: the client p99 of whole
requests, or, for a streaming LLM run, the TTFT p99 from the intended send (a stream's whole
latency grows with its output length, so no fixed limit on it means anything).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from metrics.records import Header, Tick

# Used when neither --slo-ms nor a profile's ensure p99 names a latency objective: well above a
# healthy model's tens of milliseconds, well below the hundreds a saturated endpoint queues to.
DEFAULT_SLO_MS = 100.0
# Streaming runs when neither --slo-ms nor the profile's llm.slo.ttft names one: MLPerf
# Inference's server scenario holds LLM serving to TTFT p99 <= 2 s, the same as
# profiles/sandbox-llm.yml; interactive chat targets are stricter and set their own.
DEFAULT_TTFT_SLO_MS = 2000.0

# What an objective is on: the per-second series it is checked against.
ON_P99 = "p99"  # client p99 of whole requests (``p99_ms``)
ON_TTFT = "ttft"  # TTFT p99 from the intended send (``ttft_p99_ms``), streaming runs
SERIES = {ON_P99: "p99_ms", ON_TTFT: "ttft_p99_ms"}
TTFT_SOURCE = "the profile's llm.slo.ttft"

# The profile's duration text ("500ms", "2s", "1m30s"), as driver.profile.reader reads it.
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?!s))?\s*"
                       r"(?:(\d+(?:\.\d+)?)\s*s)?\s*(?:(\d+(?:\.\d+)?)\s*ms)?\s*$")


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


def profile_ttft_slo_ms(header: Header) -> float | None:
    """The TTFT limit of a streaming run's goodput SLO: ``meta.llm_slo.ttft_ms`` as recorded,
    else the profile's ``llm.slo.ttft`` text (recordings made before meta held it)."""
    meta = header.meta if isinstance(header.meta, dict) else {}
    recorded = meta.get("llm_slo")
    if isinstance(recorded, dict):
        value = recorded.get("ttft_ms")
        return float(value) if _positive(value) else None
    profile = header.profile if isinstance(header.profile, dict) else {}
    llm = profile.get("llm")
    slo = llm.get("slo") if isinstance(llm, dict) else None
    seconds = _seconds(slo.get("ttft")) if isinstance(slo, dict) else None
    return None if seconds is None else seconds * 1000


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _seconds(value: object) -> float | None:
    if _positive(value):
        return float(value)  # type: ignore[arg-type]
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        return None
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    seconds = h * 3600 + m * 60 + s + ms / 1000
    return seconds if seconds > 0 else None


def resolve_slo(explicit: float | None, headers: Iterable[Header],
                on: str = ON_P99) -> tuple[float, str]:
    """The latency objective in ms and where it came from: the flag, a profile, the default.

    ``on`` is ``ON_P99`` (the profile's ensure p99) or ``ON_TTFT`` (streaming runs: the
    profile's ``llm.slo.ttft``); ``--slo-ms`` names either."""
    if explicit is not None:
        return float(explicit), "--slo-ms"
    for header in headers:
        if on == ON_TTFT:
            value = profile_ttft_slo_ms(header)
            if value is not None:
                return value, TTFT_SOURCE
            continue
        value = profile_slo_ms(header)
        if value is not None:
            return value, "the profile's ensure p99"
    return (DEFAULT_TTFT_SLO_MS if on == ON_TTFT else DEFAULT_SLO_MS), "default"


def objective_subject(on: str, basis: str) -> str:
    """What an objective is on, in words: "client p99 (ok)" or "TTFT p99"."""
    return "TTFT p99" if on == ON_TTFT else f"client p99 ({basis})"

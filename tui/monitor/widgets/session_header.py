"""The two header lines: what is under load, where in the plan we are, and how it is going.

Phase and remaining time come from the plan in the recording's header, so live sessions and
replays show the same thing; only the status (live, paused, replay speed) differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from metrics.records import concurrency_target, target_text
from metrics.timeline import Timeline, clock


@dataclass(frozen=True)
class Status:
    """What the screen knows beyond the timeline."""

    mode: str  # e.g. "LIVE", "REPLAY 4x", "FINISHED"
    mode_style: str  # a Rich style for the mode badge
    now: float  # elapsed seconds shown
    window: str  # "5 min", "30 min", "whole run"
    scaling: str | None = None  # the scaling policy in force, if the target has one
    where: str | None = None  # "recording → path" or the replayed file
    ended: bool = False  # the session is over (killed early, say): no time is left


def scaling_label(timeline: Timeline) -> str | None:
    """The scaling configuration in force, from the last scaling event that carries one.

    Events, not the live scaling control, so that a replay shows what the run showed.
    """
    for event in reversed(timeline.events):
        if event.source != "scaling":
            continue
        data = event.data
        config = (data if event.name == "policy_in_force" else
                  data.get("after") or data.get("saved"))
        if not isinstance(config, dict) or "resource_id" not in config:
            continue
        # Imported here: it brings boto3, which only sessions with scaling need.
        from driver.aws import ScalingState
        from metrics.endpoint import ScalingConfig

        found = ScalingConfig.from_dict(config)
        return ScalingState.of(found).label()
    return None


def phase_at(plan: list[dict], now: float) -> tuple[int, dict] | None:
    """The plan row in force at ``now`` (the last one once the plan is over)."""
    for index, row in enumerate(plan):
        if row["start"] <= now < row["start"] + row["duration"]:
            return index, row
    return (len(plan) - 1, plan[-1]) if plan else None


class SessionHeader(Static):
    """Target, phase, elapsed/remaining, target vs achieved rate; then status and scaling."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.can_focus = False
        self._shown: tuple[object, ...] | None = None

    def update_header(self, timeline: Timeline, status: Status) -> None:
        header = timeline.header
        plan = header.meta.get("plan", []) if header else []
        total = sum(row["duration"] for row in plan)
        now = min(status.now, total) if total else status.now
        found = phase_at(plan, now)
        point = timeline.last_point
        shown = (id(timeline), header is not None, int(now), status,
                 point.get("target_rps"), point.get("sent_rps"))
        if shown == self._shown:
            return
        self._shown = shown

        top = Text()
        top.append(f" {status.mode} ", style=status.mode_style)
        if point:  # the numbers first: on a narrow terminal the name is what gets cut
            top.append("  target ", style="dim")
            top.append(target_text(point.get("target_rps") or 0, concurrency_target(header)),
                       style="bold")
            top.append("  sent ", style="dim")
            top.append(f"{point.get('sent_rps') or 0:,.0f}/s", style="bold")
        top.append("   ")
        top.append(header.target if header else "starting…", style="bold")

        bottom = Text(" ")
        if found is not None:
            index, row = found
            bottom.append(f"phase {index + 1}/{len(plan)} ", style="dim")
            bottom.append(row["name"], style="bold cyan")
            bottom.append("  ")
        bottom.append(clock(now), style="bold")
        steered = header.meta.get("steered_by") if header else None
        if steered:  # its phase is only an upper bound: the search ends the run itself
            bottom.append(" (ended)" if status.ended else f" (rate set by {steered})",
                          style="dim")
        else:
            bottom.append(f" / {clock(total)}", style="dim")
            if status.ended:
                bottom.append(" (ended)", style="dim")
            elif total:
                bottom.append(f" ({clock(max(total - now, 0))} left)", style="dim")
        bottom.append("   window ", style="dim")
        bottom.append(status.window)
        if status.scaling:
            bottom.append("   ", style="dim")
            bottom.append(status.scaling, style="magenta")
        if status.where:
            bottom.append(f"   {status.where}", style="dim")
        both = Text("\n").join([top, bottom])
        both.no_wrap, both.overflow = True, "ellipsis"
        self.update(both, layout=False)  # always two lines

"""The event log: phases, operator actions, scaling activities, endpoint changes and error
codes with their messages, one line each, in time order: a scaling activity polled after a
later endpoint event is put back where it happened. The log follows its newest line unless
the user scrolled up (and follows again once scrolled back to the end).

When (nearly) every request of the last few seconds failed for one reason, it says so once in
a sentence ("every request got HTTP 404 — is the path right? ...") and again when requests
succeed again; at the end of the run it names what failed over the whole run.

It is fed record by record (live and replay alike) but only formats them then; lines are
written to the screen at the next refresh, and at most ``MAX_LINES`` are kept, so a burst of
records (a replay seeking across an hour) costs a bounded amount of drawing.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque

from rich.text import Text
from textual import events
from textual.widgets import RichLog

from metrics import failures
from metrics.records import (
    EndpointState,
    Event,
    Footer,
    Header,
    Record,
    ScalingActivity,
    Tick,
)
from metrics.timeline import clock

MAX_LINES = 500
# Seconds of ticks the "one reason" sentence looks at while the run goes on.
REASON_SECONDS = 5
SOURCE_STYLES = {
    "schedule": "cyan",
    "operator": "bold yellow",
    "target": "red",
    "driver": "bold red",
    "scaling": "magenta",
    "poller": "dim",
    "session": "green",
}


class EventLog(RichLog):
    """A bounded, append-only log of what happened during the session."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, min_width=10, wrap=True, markup=False,
                         auto_scroll=True)
        self.can_focus = False
        self.border_title = "events"
        self._pending: deque[tuple[float, Text]] = deque(maxlen=MAX_LINES)
        # (elapsed, line) of every line written, in time order: what a late line is put among.
        self._written: list[tuple[float, Text]] = []
        self.following = True  # keep the newest line in view (off while the user scrolls up)
        self._epoch0 = 0.0
        self._instances: tuple[str, int | None, int | None] | None = None
        self._activities: dict[str, str] = {}
        self._recent: deque[Tick] = deque(maxlen=REASON_SECONDS)
        self._reason: str | None = None  # the key of the reason last said
        self._request: str | None = None
        self._messages: dict[str, str] = {}  # the server's first words per status and code
        self.lines_added = 0

    def reset(self) -> None:
        """Forget everything (a replay seeking backwards re-feeds the records)."""
        self._pending.clear()
        self._written.clear()
        self._instances = None
        self._activities.clear()
        self._recent.clear()
        self._reason = None
        self._messages.clear()
        self.clear()

    def add(self, record: Record) -> None:
        line = self._line(record)
        if line is not None:
            self._pending.append(line)
            self.lines_added += 1

    def add_note(self, text: str) -> None:
        """A line that is not a record: what the run was set up with, say."""
        self._pending.append(_entry(0.0, "session", text))

    def flush(self) -> None:
        """Write the lines that arrived since the last flush, in time order, and keep the
        newest in view unless the user scrolled up."""
        if self._pending:
            pending = sorted(self._pending, key=lambda entry: entry[0])
            self._pending.clear()
            written = self._written
            if written and pending[0][0] < written[-1][0]:
                # A line from before the last one shown: rewrite the log with it in place
                # (rare: a scaling activity polled late; at most MAX_LINES lines).
                for entry in pending:
                    bisect.insort_right(written, entry, key=lambda e: e[0])
                del written[:-MAX_LINES]
                self.clear()
                for _at, line in written:
                    self.write(line, scroll_end=False)
            else:
                written += pending
                del written[:-MAX_LINES]
                for _at, line in pending:
                    self.write(line, scroll_end=False)
        if self.following and not self.is_vertical_scroll_end:
            # After the layout: a scroll asked for before it (the first lines, a resize that
            # re-wraps them) would land short of the end.
            self.call_after_refresh(self.scroll_end, animate=False)

    def on_mouse_scroll_up(self, _event: events.MouseScrollUp) -> None:
        self.following = False

    def on_mouse_scroll_down(self, _event: events.MouseScrollDown) -> None:
        self.call_after_refresh(self._follow_at_end)

    def _follow_at_end(self) -> None:
        if self.is_vertical_scroll_end:
            self.following = True

    def _line(self, record: Record) -> tuple[float, Text] | None:
        if isinstance(record, Tick):
            return self._one_reason(record)
        if isinstance(record, Event):
            for key, text in failures.first_messages([record]).items():
                self._messages.setdefault(key, text)
            return _entry(record.elapsed, record.source, record.message or record.name)
        if isinstance(record, ScalingActivity):
            if self._activities.get(record.activity_id) == record.status:
                return None
            self._activities[record.activity_id] = record.status
            text = f"scaling {record.status}: {record.description}"
            if record.status_message:
                text += f" ({record.status_message})"
            at = record.end if record.end is not None else record.t  # when it changed
            return _entry(at - self._epoch0, "scaling", text)
        if isinstance(record, EndpointState):
            current, desired = record.instance_counts()
            state = (record.status, current, desired)
            previous, self._instances = self._instances, state
            if previous == state:
                return None
            change = (f"{previous[1]} → {current}" if previous and previous[1] != current
                      else f"{current}")
            return _entry(record.elapsed, "poller",
                          f"endpoint {record.status}: instances {change} (desired {desired})")
        if isinstance(record, Header):
            self._epoch0 = record.t
            self._request = failures.request_description(record.profile)
            return None
        if isinstance(record, Footer):
            total = record.summary.get("total") or {}
            text = f"session ended: {record.reason} (exit code {record.exit_code})"
            if total.get("interrupted"):
                text += f"; {total['interrupted']:,} in flight cut by the stop (not errors)"
            named = "; ".join(failures.describe(total, messages=self._messages))
            verdict = failures.one_reason(total, self._request, self._messages)
            at, line = _entry(record.elapsed, "session", text + (f"; {named}" if named else ""))
            if verdict:
                line.append(f"\n        {verdict}", style="bold red")
            return at, line
        return None

    def _one_reason(self, tick: Tick) -> tuple[float, Text] | None:
        """A line when the last seconds start (or stop) failing for one reason."""
        self._recent.append(tick)
        if tick.completed == 0 and tick.not_sent == 0:
            return None  # a pause or a quiet second says nothing new
        outcomes: Counter[str] = Counter()
        status: Counter[str] = Counter()
        codes: Counter[str] = Counter()
        not_sent = 0
        for recent in self._recent:
            outcomes.update(recent.outcomes)
            status.update(recent.status)
            codes.update(recent.errors)
            not_sent += recent.not_sent
        reason = failures.main_reason({"outcomes": outcomes, "status": status,
                                       "error_codes": codes, "not_sent": not_sent},
                                      self._request)
        key = reason.key if reason else None
        if key == self._reason:
            return None
        self._reason = key
        if reason is None:
            attempted = sum(outcomes.values()) + not_sent
            return _entry(tick.second + 1.0, "session",
                          f"requests succeed again: {outcomes.get('ok', 0):,} of "
                          f"{attempted:,} in the last {len(self._recent)} s")
        said = self._messages.get(reason.key)
        at, line = _entry(tick.second + 1.0, "target",
                          reason.sentence + (f"; the server said: “{said}”" if said else ""))
        line.stylize("bold")
        return at, line


def _entry(elapsed: float, source: str, message: str) -> tuple[float, Text]:
    line = Text(f"{clock(max(elapsed, 0.0)):>7} ", style="dim")
    line.append(message, style=SOURCE_STYLES.get(source, ""))
    return elapsed, line

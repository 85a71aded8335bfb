"""The events panel keeps its newest line in view unless the user scrolled up, and lists
events in time order even when one arrives late (issue 24: a 1:22 scaling activity polled
after a 1:30 endpoint event was shown after it, and the newest line sat below the fold)."""

from __future__ import annotations

from textual import events

from metrics.records import EndpointState, Event, Footer, Header, ScalingActivity
from tests.tui.helpers import replay_app
from tui.monitor.widgets import EventLog


def _texts(log: EventLog) -> list[str]:
    return [line.text for line in log.lines]


async def test_the_log_follows_its_end_and_keeps_time_order() -> None:
    app = replay_app()
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        log = screen.query_one(EventLog)
        log.reset()
        log.add(Header(3, "test", "2026-12-07T00:00:00Z", 1000.0, "t"))
        for i in range(60):
            log.add_note(f"a note long enough to wrap in the narrow events panel, number {i}")
        screen.refresh_figures()
        await pilot.pause()
        await pilot.pause()
        assert log.is_vertical_scroll_end and log.max_scroll_y > 0

        log.add(EndpointState(1090.0, 90.0, "ep", "Updating",
                              [{"name": "v", "current": 1, "desired": 2}]))
        log.add(ScalingActivity(1082.0, "a1", "InProgress", "Setting desired count to 2"))
        screen.refresh_figures()
        await pilot.pause()
        text = "\n".join(_texts(log))
        assert text.index("1:22 scaling InProgress") < text.index("1:30 endpoint Updating")
        await pilot.pause()
        assert log.is_vertical_scroll_end

        for _ in range(3):  # the user reads back with the wheel: the log stays where they are
            log.post_message(events.MouseScrollUp(log, 1, 1, 0, -1, 0, False, False, False))
        await pilot.pause()
        assert not log.following and not log.is_vertical_scroll_end
        at = log.scroll_y
        log.add(Event(1100.0, 100.0, "operator", "marker", "later"))
        screen.refresh_figures()
        await pilot.pause()
        assert log.scroll_y == at

        # The operator's kill: what it cut is named apart from the errors (issue 24, item 3).
        log.add(Footer(1101.0, 101.0, "killed", {"total": {
            "outcomes": {"ok": 90}, "status": {"200": 90}, "interrupted": 9}}, [], 0))
        screen.refresh_figures()
        await pilot.pause()
        shown = " ".join(" ".join(_texts(log)[-3:]).split())  # the wrapped lines, rejoined
        assert "session ended: killed (exit code 0); 9 in flight cut by the stop (not " \
               "errors)" in shown

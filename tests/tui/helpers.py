"""Helpers for monitor tests: a live monitor on a real session, and waiting for records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from driver.profile import load_profile
from driver.session import RunOptions, Session
from metrics.records import Record
from tui.console import launch
from tui.monitor.app import MonitorApp
from tui.monitor.screens import LiveRun, LiveScreen

FIXTURES = Path(__file__).parent / "fixtures"


def until(session: Session, predicate: Callable[[Record], bool],
          timeout: float = 30.0) -> Awaitable[Record]:
    """The first record from this call on that ``predicate`` accepts.

    It listens from the call, not from the await, so a test can start listening, press a
    key, and then wait.
    """
    found: asyncio.Future[Record] = asyncio.get_running_loop().create_future()

    def consumer(record: Record) -> None:
        if not found.done() and predicate(record):
            found.set_result(record)

    session.subscribe(consumer)
    return asyncio.wait_for(found, timeout)


def notifications(app: MonitorApp) -> list[str]:
    return [n.message for n in app._notifications]


@asynccontextmanager
async def live_monitor(profile_path: Path, options: RunOptions, *,
                       size: tuple[int, int] = (160, 48), keymap: dict[str, str] | None = None,
                       steered_by: str | None = None) -> AsyncIterator[tuple[Any, LiveRun]]:
    """The monitor on a real session (workers and all), with load already started."""
    prepared = await launch(load_profile(profile_path), options)
    if steered_by:  # as find-capacity marks its session
        prepared.session.meta["steered_by"] = steered_by
    live = LiveRun(prepared, options)
    # niceness 0: the test process runs every test; lowering it would slow all that follow.
    app = MonitorApp(LiveScreen(live, niceness=0), keymap)
    try:
        async with app.run_test(size=size) as pilot:
            if not live.session.started:
                await until(live.session, lambda r: r.TYPE == "header")
            await pilot.pause()
            yield pilot, live
    finally:
        await live.finish()
        await prepared.close()


def replay_app() -> MonitorApp:
    """The monitor on the sandbox fixture recording, paused at its start: a main screen to
    put dialogs and log lines over without any session."""
    from metrics.recording import read_recording
    from tui.monitor.screens import ReplayScreen

    return MonitorApp(ReplayScreen(read_recording(FIXTURES / "sandbox-scaling.jsonl"),
                                   clock=lambda: 0.0, paused=True))

"""A worker that dies mid-run (issue 12 item 2): the event, the replacement, the plan's target
kept, the lost share counted as not sent, every figure counted once; or exit 3."""

from __future__ import annotations

import asyncio
import os
import signal

import psutil

from driver.pool import LocalProcessPool
from driver.profile import load_profile
from driver.session.runner import EXIT_INCOMPLETE, Session
from metrics.recording import read_recording
from metrics.records import Event, Tick
from tests.driver.session.test_session import collect, profile_text

RATE = 40


def worker_pids() -> list[int]:
    return sorted(p.pid for p in psutil.Process().children()
                  if "driver.load.process" in " ".join(p.cmdline()))


async def kill_one_worker_when_ticking(records: list, at_second: int = 2,
                                       workers: int = 2) -> int:
    """SIGKILL the last worker's process once the run has merged ``at_second`` seconds."""
    async with asyncio.timeout(30):
        while not any(isinstance(r, Tick) and r.second >= at_second for r in records):
            await asyncio.sleep(0.05)
    pids = worker_pids()
    assert len(pids) == workers
    os.kill(pids[-1], signal.SIGKILL)  # the last spawned: worker W-1
    return pids[-1]


def events(records: list, name: str) -> list[Event]:
    return [r for r in records if isinstance(r, Event) and r.name == name]


async def test_a_killed_worker_is_replaced_and_nothing_is_counted_twice(
        target_server, write_profile, tmp_path):
    path = write_profile(profile_text(target_server.url,
                                      f"    - {{duration: 8, arrivalRate: {RATE}}}",
                                      "  ensure: {maxErrorRate: 100}"))
    session = Session(load_profile(path), workers=2, record=tmp_path / "r.jsonl")
    records = collect(session)
    run = asyncio.create_task(session.run())
    await kill_one_worker_when_ticking(records)
    result = await run

    lost = events(records, "worker_lost")
    assert len(lost) == 1 and lost[0].data["worker"] == 1
    assert "exited with code -9" in lost[0].message
    replaced = events(records, "worker_replaced")
    assert len(replaced) == 1 and replaced[0].data["worker"] == 1
    assert result.reason == "completed" and result.exit_code == 0

    ticks = [r for r in records if isinstance(r, Tick) and r.in_schedule]
    # The plan's target stays the target in every second: it never halves.
    assert [round(t.target_rps) for t in ticks] == [RATE] * 8
    # Sent + not sent is the plan (the lost share shows as not sent): exactly over the run,
    # and about so each second (a send that lags past a second's end counts in the next).
    every = [r for r in records if isinstance(r, Tick)]
    assert sum(t.sent + t.not_sent for t in every) == RATE * 8
    assert all(abs(t.sent + t.not_sent - RATE) <= RATE // 4 for t in ticks), [
        (t.sent, t.not_sent) for t in ticks]
    at = replaced[0].data["from_second"]
    assert sum(t.not_sent for t in ticks) > 0
    assert all(t.not_sent == 0 for t in ticks if t.second >= at)  # the share is taken over
    # Totals: what every worker reported is what the recording holds; the ones that said
    # Done said the same totals as their ticks.
    assert not events(records, "totals_mismatch")
    per_worker = events(records, "worker_totals")[0].data["workers"]
    assert len(per_worker) == 3  # two first workers and the replacement
    total = result.summary["total"]
    assert sum(w["sent"] for w in per_worker) == sum(t.sent for t in records
                                                     if isinstance(t, Tick))
    assert sum(w["sent"] for w in per_worker) + total.get("not_sent", 0) >= RATE * 8
    # The dead worker's last second was sent but never reported: the server saw at least
    # every request counted.
    assert target_server.requests >= sum(w["sent"] for w in per_worker)
    replay = read_recording(tmp_path / "r.jsonl")
    assert replay.complete and replay.footer.reason == "completed"


async def test_a_worker_that_cannot_be_replaced_ends_the_run_incomplete(
        target_server, write_profile, tmp_path):
    path = write_profile(profile_text(target_server.url,
                                      f"    - {{duration: 30, arrivalRate: {RATE}}}"))
    session = Session(load_profile(path), workers=2, record=tmp_path / "r.jsonl",
                      pool=LocalProcessPool(max_replacements=0))
    records = collect(session)
    run = asyncio.create_task(session.run())
    await kill_one_worker_when_ticking(records)
    result = await asyncio.wait_for(run, 20)  # ends at once, not after 30 s
    assert result.reason == "incomplete" and result.exit_code == EXIT_INCOMPLETE == 3
    assert events(records, "worker_lost") and events(records, "incomplete")
    replay = read_recording(tmp_path / "r.jsonl")
    assert replay.footer.reason == "incomplete" and replay.footer.exit_code == 3
    ticks = [r for r in replay.records if isinstance(r, Tick) and r.in_schedule]
    assert all(round(t.target_rps) == RATE for t in ticks[:-1])
    assert not worker_pids()


async def test_the_only_worker_killed_is_replaced_too(target_server, write_profile):
    path = write_profile(profile_text(target_server.url,
                                      f"    - {{duration: 6, arrivalRate: {RATE}}}"))
    session = Session(load_profile(path), workers=1)
    records = collect(session)
    run = asyncio.create_task(session.run())
    await kill_one_worker_when_ticking(records, workers=1)
    result = await run
    assert events(records, "worker_lost") and events(records, "worker_replaced")
    assert result.reason == "completed" and result.exit_code == 0
    every = [r for r in records if isinstance(r, Tick)]
    assert sum(t.sent + t.not_sent for t in every) == RATE * 6
    assert [round(t.target_rps) for t in every if t.in_schedule] == [RATE] * 6

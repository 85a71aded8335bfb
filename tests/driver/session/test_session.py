"""The driver end to end: real worker processes against a real local aiohttp server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from driver.http import HttpTarget
from driver.profile import load_profile
from driver.session import Session
from metrics import hdr
from metrics.recording import read_recording
from metrics.records import Event, Tick

ROOT = Path(__file__).resolve().parents[3]


def profile_text(url: str, phases: str, extra: str = "", request: str = "") -> str:
    return f"""
config:
  target: {url}
  phases:
{phases}
{extra}
scenarios:
  - flow:
      - post:
          url: /invocations
          body: "5,3.5,1.3,0.3"
          headers: {{content-type: text/csv}}
{request}
"""


def collect(session: Session) -> list:
    records: list = []
    session.subscribe(records.append)
    return records


def ticks(records: list) -> list[Tick]:
    return [r for r in records if isinstance(r, Tick)]


async def test_latency_is_measured_from_the_intended_send(target_server, write_profile,
                                                         tmp_path):
    target_server.delay = 0.02
    path = write_profile(profile_text(target_server.url,
                                      "    - {duration: 2, arrivalRate: 50, name: steady}"))
    session = Session(load_profile(path), record=tmp_path / "r.jsonl")
    result = await session.run()
    total = result.summary["total"]
    assert result.reason == "completed" and result.exit_code == 0
    assert total["requests"] == 100 and total["ok"] == 100
    assert target_server.requests == 100
    assert target_server.seen_bodies[0] == b"5,3.5,1.3,0.3"
    # Nothing can come back faster than the server answers; latency includes service time.
    assert total["service_ms"]["min"] >= 20
    assert total["latency_ms"]["p50"] >= total["service_ms"]["p50"]
    recording = read_recording(tmp_path / "r.jsonl")
    assert recording.complete and recording.footer.summary["total"]["requests"] == 100
    assert [t.second for t in ticks(recording.records)] == sorted(
        t.second for t in ticks(recording.records))
    assert any(isinstance(r, Event) and r.name == "phase_started" for r in recording.records)


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind", "code"),
    [
        (200, {}, b"ok", "ok", None),
        (404, {}, b"nope", "4xx", None),
        (503, {}, b"busy", "5xx", None),
        (429, {}, b"slow down", "throttled", "HTTP 429"),
        (400, {"x-amzn-ErrorType": "ThrottlingException:http://internal"}, b"{}", "throttled",
         "ThrottlingException"),
        (424, {"x-amzn-ErrorType": "ModelError"}, b'{"Message": "bad input"}', "4xx",
         "ModelError"),
        (500, {}, b'{"__type": "com.amazon#InternalFailure", "message": "boom"}', "5xx",
         "InternalFailure"),
        (302, {}, b"", "other", "HTTP 302"),
    ],
)
def test_outcome_classes(status, headers, body, kind, code):
    outcome = HttpTarget().classify(status, headers, body)
    assert (outcome.kind, outcome.code) == (kind, code)


async def test_timeouts_5xx_and_error_events_are_counted(target_server, write_profile):
    target_server.status = 503
    path = write_profile(profile_text(target_server.url, "    - {duration: 1, arrivalRate: 20}"))
    records = collect(session := Session(load_profile(path)))
    result = await session.run()
    assert result.summary["total"]["outcomes"]["5xx"] == 20
    assert result.summary["total"]["status"] == {"503": 20}

    target_server.status, target_server.delay = 200, 2.0
    path = write_profile(profile_text(target_server.url, "    - {duration: 1, arrivalRate: 10}",
                                      "load: {timeout: 0.3}"))
    records = collect(session := Session(load_profile(path)))
    result = await session.run()
    assert result.summary["total"]["outcomes"]["timeout"] == 10
    errors = [r for r in records if isinstance(r, Event) and r.name == "error"]
    assert errors and errors[0].data["code"] == "Timeout" and errors[0].data["first"]


async def test_a_dead_target_is_counted_as_errors_while_the_test_goes_on(write_profile):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_profile(profile_text(f"http://127.0.0.1:{port}",
                                      "    - {duration: 2, arrivalRate: 20}"))
    session = Session(load_profile(path))
    result = await session.run()
    total = result.summary["total"]
    assert result.reason == "completed"
    assert result.exit_code == 4  # not one request succeeded (issue 24)
    assert total["outcomes"]["conn_error"] == 40
    assert total["error_rate"] == 1.0
    assert "ClientConnectorError" in total["error_codes"]


async def test_kill_stops_all_traffic_within_a_second(target_server, write_profile):
    target_server.delay = 5.0
    path = write_profile(profile_text(target_server.url, "    - {duration: 30, arrivalRate: 50}"))
    session = Session(load_profile(path))
    first_tick = asyncio.Event()
    session.subscribe(lambda r: isinstance(r, Tick) and first_tick.set())
    run = asyncio.create_task(session.run())
    await first_tick.wait()
    killed_at = time.perf_counter()
    session.kill()
    result = await run
    took = time.perf_counter() - killed_at
    requests_at_end = target_server.requests
    await asyncio.sleep(0.3)
    assert target_server.requests == requests_at_end  # nothing sent after the kill
    assert result.reason == "killed"
    total = result.summary["total"]
    # All were in flight: the operator's kill counts them apart, not as errors (issue 24).
    assert total["interrupted"] == total["requests"] > 0
    assert "Cancelled" not in total["error_codes"] and total["error_rate"] == 0.0
    assert took < 2.0, f"kill took {took:.2f} s"


async def test_the_in_flight_cap_counts_requests_not_sent(target_server, write_profile):
    target_server.delay = 2.0
    path = write_profile(profile_text(target_server.url, "    - {duration: 1, arrivalRate: 50}",
                                      "load: {maxInFlight: 5, timeout: 5}"))
    result = await Session(load_profile(path)).run()
    total = result.summary["total"]
    assert total["requests"] == 5
    assert total["not_sent"] == 45
    assert target_server.max_in_flight == 5
    assert total["error_rate"] == pytest.approx(0.9)  # not sent counts against the run


async def test_a_stall_shows_in_corrected_latency_not_in_service_time(target_server,
                                                                     write_profile):
    """wrk2's lesson: requests that wait behind a stall are late, and their latency says so."""
    target_server.delay = 0.01
    path = write_profile(profile_text(target_server.url, "    - {duration: 4, arrivalRate: 200}",
                                      "load: {connections: 4}"))
    session = Session(load_profile(path))

    def stall_once(record) -> None:
        if isinstance(record, Tick) and record.second == 1 and not target_server.stall_until:
            target_server.stall_until = asyncio.get_running_loop().time() + 0.5

    session.subscribe(stall_once)
    result = await session.run()
    total = result.summary["total"]
    assert total["ok"] == 800
    assert total["latency_ms"]["p99"] > 300  # the stall, as clients lived it
    assert total["service_ms"]["p99"] < 100  # hidden from the service time
    assert total["late"] > 40


async def test_live_control_reaches_the_workers(target_server, write_profile):
    path = write_profile(profile_text(target_server.url, "    - {duration: 7, arrivalRate: 20}"))
    session = Session(load_profile(path))
    records = collect(session)

    def control(record) -> None:
        if isinstance(record, Tick):
            {0: lambda: session.set_rate(100), 2: session.pause, 4: session.resume,
             }.get(record.second, lambda: None)()

    session.subscribe(control)
    await session.run()
    sent = {t.second: t.sent for t in ticks(records)}
    assert sent[2] == pytest.approx(100, abs=5)  # the new rate, after tick 0 arrived
    assert sent[4] == 0  # paused during second 3..4
    assert sent[6] == pytest.approx(100, abs=5)  # resumed at the set rate
    names = [r.name for r in records if isinstance(r, Event) and r.source == "operator"]
    assert names == ["rate_set", "paused", "resumed"]


async def test_two_workers_send_the_schedule_between_them(target_server, write_profile):
    path = write_profile(profile_text(target_server.url, "    - {duration: 2, arrivalRate: 60}"))
    session = Session(load_profile(path), workers=2)
    records = collect(session)
    result = await session.run()
    assert result.summary["total"]["requests"] == 120
    assert all(t.workers == 2 for t in ticks(records) if t.in_schedule)
    assert hdr.decode(ticks(records)[0].latency).get_total_count() == ticks(records)[0].completed


async def test_secrets_reach_the_target_but_never_the_recording(target_server, write_profile,
                                                               tmp_path, monkeypatch):
    monkeypatch.setenv("LW_TEST_KEY", "sk-live-0123456789")
    text = profile_text(target_server.url, "    - {duration: 1, arrivalRate: 5}")
    path = write_profile(text.replace("headers: {content-type: text/csv}",
                                      'headers: {x-api-key: "{{ $env.LW_TEST_KEY }}"}'))
    target_server.status = 403
    target_server.body = b'{"message": "key sk-live-0123456789 is not allowed"}'
    await Session(load_profile(path), record=tmp_path / "r.jsonl").run()
    assert target_server.seen_headers[0]["x-api-key"] == "sk-live-0123456789"
    recorded = (tmp_path / "r.jsonl").read_text()
    assert "sk-live-0123456789" not in recorded
    assert "{{ $env.LW_TEST_KEY }}" in recorded  # the profile is kept, as written


async def loadwatch(*args: str, stop_after_first_status: bool = False) -> tuple[int, str, str]:
    """Run the CLI in a subprocess without blocking this loop (the target server lives here)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui", *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = b""
    if stop_after_first_status:
        assert process.stdout is not None
        while b"p99 ok" not in out:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, "loadwatch ended before its first status line"
            out += line
        await asyncio.wait_for(process.stdout.readline(), 30)
        process.send_signal(signal.SIGINT)
    rest, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, (out + rest).decode(), err.decode()


async def test_headless_exit_codes(target_server, write_profile, tmp_path):
    phases = "    - {duration: 1, arrivalRate: 20, name: only}"
    ok = write_profile(profile_text(target_server.url, phases, "  ensure: {maxErrorRate: 1}"),
                       "ok.yml")
    code, out, err = await loadwatch("run", str(ok), "--headless", "--no-record")
    assert code == 0, err
    assert "ensure maxErrorRate 0% (limit 1%): ok" in out

    target_server.delay = 0.05
    slow = write_profile(profile_text(target_server.url, phases, "  ensure: {p99: 10}"),
                         "slow.yml")
    code, out, _ = await loadwatch("run", str(slow), "--headless", "--no-record")
    assert code == 1
    assert "(limit 10 ms): FAILED" in out

    before = target_server.requests
    broken = write_profile(profile_text(target_server.url, "    - {duration: x, arrivalRate: 1}"),
                           "broken.yml")
    code, out, err = await loadwatch("run", str(broken), "--headless")
    assert code == 2
    assert f"{broken}:4: config.phases[0].duration" in err
    assert target_server.requests == before  # a broken profile sends nothing


async def test_ctrl_c_exits_130_with_a_readable_recording(target_server, write_profile,
                                                          tmp_path):
    path = write_profile(profile_text(target_server.url, "    - {duration: 60, arrivalRate: 20}"))
    recording = tmp_path / "cut.jsonl"
    code, _out, err = await loadwatch("run", str(path), "--headless", "--interval", "1",
                                     "--record", str(recording), stop_after_first_status=True)
    assert code == 130, err
    assert "interrupted" in err
    replay = read_recording(recording)
    assert replay.complete and replay.footer.reason == "interrupted"
    assert replay.footer.exit_code == 130
    assert replay.footer.summary["total"]["requests"] >= 20


async def test_a_crashed_controller_leaves_a_readable_recording_and_no_workers(
        target_server, write_profile, tmp_path):
    """SIGKILL is the worst crash: no handler runs. What was written must still replay."""
    import psutil

    path = write_profile(profile_text(target_server.url, "    - {duration: 60, arrivalRate: 20}"))
    recording = tmp_path / "crash.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui", "run", str(path), "--headless", "--interval", "1",
        "--record", str(recording), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    while b"p99 ok" not in await asyncio.wait_for(process.stdout.readline(), 30):
        pass
    await asyncio.wait_for(process.stdout.readline(), 30)  # one status line: ticks recorded
    workers = [p for p in psutil.Process(process.pid).children(recursive=True)]
    assert workers, "the run has worker processes"
    process.kill()
    await process.wait()
    _gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"left behind: {alive}"
    replay = read_recording(recording)
    assert not replay.complete
    assert any("no footer" in w for w in replay.warnings)
    assert sum(t.sent for t in ticks(replay.records)) >= 20


async def test_ctrl_c_while_workers_start_exits_130_with_a_recording(target_server,
                                                                     write_profile, tmp_path):
    """Issue 12 item 10: no traceback, exit 130, a recording saying interrupted, no worker."""
    import psutil

    path = write_profile(profile_text(target_server.url, "    - {duration: 60, arrivalRate: 20}"))
    recording = tmp_path / "early.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui", "run", str(path), "--headless", "--workers", "8",
        "--record", str(recording), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    seen: list[psutil.Process] = []
    async with asyncio.timeout(30):
        while not seen:  # the first of 8 workers is starting: the rest are still to come
            await asyncio.sleep(0.01)
            seen = [p for p in psutil.Process(process.pid).children()
                    if "driver.load.process" in " ".join(p.cmdline())]
    process.send_signal(signal.SIGINT)
    _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode() and "CancelledError" not in err.decode()
    replay = read_recording(recording)
    assert replay.complete and replay.footer.reason == "interrupted"
    assert replay.footer.exit_code == 130
    assert not any(isinstance(r, Event) and r.name == "started" for r in replay.records)
    assert target_server.requests == 0
    _gone, alive = psutil.wait_procs(seen, timeout=5)
    assert not alive, f"left behind: {alive}"

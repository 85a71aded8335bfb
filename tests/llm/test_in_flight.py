"""Requests in flight obey Little's law and goodput never tops 100 % (issue 25).

A known server (tests/llm/conftest.py's SSE server: fixed first-token delay and token gap) under
a known concurrency: the ticks' ``in_flight`` (the mean over each second) must be the target,
and over the run equal the completions times their mean latency; every second's goodput and
tokens must belong to the streams that second counted as completed.
"""

from __future__ import annotations

import io
import re
import time

from driver.load.accounting import RequestCounter
from driver.load.llm_counts import LlmCounter
from driver.load.stream_request import LlmRequests, Stream
from driver.pool import TickMessage
from driver.profile import Prompt
from driver.schedule import Pacer, Phase, RateFunction
from metrics import hdr
from metrics.llm import LlmAggregate
from metrics.records import OK
from metrics.stats import Aggregate
from tests.llm.conftest import write
from tests.llm.test_stream_worker import llm_profile, run
from tui.console import HeadlessPrinter

LLM = {"transport": "sse", "shape": "openai", "api": "chat", "max_tokens": 20,
       "input_tokens": {"kind": "fixed", "value": 5}, "output_tokens": {"kind": "fixed",
                                                                        "value": 20}}


async def test_in_flight_is_the_concurrency_and_obeys_littles_law(sse_server, tmp_path):
    sse_server.first_delay, sse_server.interval = 0.05, 0.01  # about 0.24 s a stream
    path = write(tmp_path, llm_profile(sse_server.url, "    - {duration: 3, arrivalRate: 4}",
                                       load="  mode: concurrency"))
    path.write_text(path.read_text().replace("  workers: 1\n", "  workers: 2\n"))
    result, ticks = await run(path)
    assert result.reason == "completed" and sse_server.max_open == 4
    scheduled = [t for t in ticks if t.in_schedule]
    # Each second of the schedule held 4 streams, less the moments between one stream's end
    # and the next one's start (the closed loop restarts within a loop pass).
    assert all(3.6 <= t.in_flight <= 4.0 for t in scheduled), [t.in_flight for t in ticks]
    # Little's law over the run: request-seconds in flight = sum of the latencies (ok and
    # failed, from the intended send). HDR keeps 3 significant digits; each tick rounds to 1 ms.
    total = Aggregate().extend(ticks)
    latency_s = (hdr.mean_us(total.latency) * total.latency.get_total_count()
                 + hdr.mean_us(total.failed_latency) * total.failed_latency.get_total_count()
                 ) / 1e6
    assert abs(sum(t.in_flight for t in ticks) - latency_s) <= 0.005 * latency_s + 0.001 * len(
        ticks)
    # Goodput and tokens land in the second that counts the stream's completion.
    for tick in ticks:
        assert tick.goodput == tick.outcomes.get(OK, 0)
        assert tick.output_tokens == 20 * tick.outcomes.get(OK, 0)
    assert LlmAggregate().extend(ticks).snapshot()["goodput_pct"] == 100


async def test_the_headless_line_labels_a_concurrency_target_and_shows_in_flight(sse_server,
                                                                                 tmp_path,
                                                                                 capsys):
    sse_server.first_delay, sse_server.interval = 0.02, 0.01
    path = write(tmp_path, llm_profile(sse_server.url, "    - {duration: 2, arrivalRate: 3}",
                                       load="  mode: concurrency"))
    from driver.profile import load_profile
    from driver.session import RunOptions, prepare_run

    profile = load_profile(path)
    prepared = await prepare_run(profile, RunOptions(record=tmp_path / "r.jsonl"))
    out = io.StringIO()
    prepared.session.subscribe(HeadlessPrinter(out, interval=2))
    result = await prepared.session.run()
    from tui.console import print_result

    print_result(result, "", profile.sanitized)
    summary = capsys.readouterr().out.splitlines()
    assert "tgt infl" in summary[1] and "target/s" not in summary[1]
    lines = out.getvalue().splitlines()
    head = next(line for line in lines if line.lstrip().startswith("elapsed"))
    assert "tgt infl" in head and "target/s" not in head and head.endswith("in flight")
    status = next(line for line in lines if line.lstrip().startswith("0:02"))
    assert float(status.split()[3]) == 3  # the target: 3 in flight, not 3/s
    assert 2.5 <= float(status.split()[-1]) <= 3.0  # in flight, the mean over the window
    # The report of the same run says so too: its plan and its send-rate card.
    from tui.report.html import report_html
    from tui.report.inputs import load_runs

    html = report_html(load_runs([tmp_path / "r.jsonl"]))
    assert "<th>in flight</th>" in html and "target 3.0 in flight" in html
    assert "offered 3.0 req/s" not in html
    # ...and so does the monitor, replaying it at 80x24: header and figures panel.
    from metrics.recording import read_recording
    from tests.tui.monitor.test_replay_screen import FakeClock, _caught_up
    from tui.monitor.app import MonitorApp
    from tui.monitor.screens import ReplayScreen
    from tui.monitor.widgets import FiguresPanel
    from tui.monitor.widgets.session_header import SessionHeader

    screen = ReplayScreen(read_recording(tmp_path / "r.jsonl"), clock=FakeClock())
    app = MonitorApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right")  # a second on: the first tick is shown
        await _caught_up(pilot, screen)
        header = screen.query_one(SessionHeader)
        for _ in range(100):
            text = str(header.render())
            rows = dict(screen.query_one(FiguresPanel)._rows)
            if "target" in text and "target" in rows:
                break
            await pilot.pause(0.02)
        assert re.search(r"target \d+ in flight  sent", text), text
        assert re.fullmatch(r"[\d.]+ in flight", rows["target"]), rows
        await pilot.press("q")


def _counter(ticks: list) -> tuple[RequestCounter, LlmCounter]:
    phases = [Phase("one", 5, 1, 1)]
    schedule = RateFunction.from_phases(phases)
    llm_counter = LlmCounter(None, None)
    counter = RequestCounter(
        lambda m: ticks.append(m.tick) if isinstance(m, TickMessage) else None, 0, schedule,
        ["one"], Pacer(schedule), 0.01, fill=llm_counter.fill)
    return counter, llm_counter


def test_a_stream_ending_after_the_second_closed_counts_in_the_next_one_whole():
    # The ticker has not closed second 0 yet when a stream ends 0.3 s into second 1: its
    # completion, tokens and goodput all go to second 1 (they were split: goodput in second
    # 0 and the completion in 1, so a window could read goodput 102-109 %).
    ticks: list = []
    counter, llm_counter = _counter(ticks)
    now = time.perf_counter()
    counter.start(now - 1.3, 0.0, 0)
    path = LlmRequests(LLM, 0, 30.0, 4, None, counter, llm_counter)  # type: ignore[arg-type]
    stream = Stream(path, 1, now - 1.25)
    counter.in_flight[1] = stream
    stream.sent = now - 1.25
    stream.prompt = Prompt(prompt="a b c d e", max_tokens=20)
    from driver.http import StreamReader

    reader = StreamReader("sse", "openai", stream.intended, stream.sent)
    for i in range(3):
        reader.feed(b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n', now - 0.5 + i / 10)
    reader.feed(b"data: [DONE]\n\n", now)
    path._settle(stream, OK, None, None, reader.end(now))
    counter.emit_tick(final=True)
    first, second = ticks
    assert (first.completed, first.goodput, first.output_tokens) == (0, 0, 0)
    assert (second.completed, second.goodput, second.output_tokens) == (1, 1, 3)
    # In flight: second 0 from its intended send at 0.05 s, and second 1 up to its end at
    # about 1.3 s.
    assert first.in_flight == 0.95 and 0.29 <= second.in_flight <= 0.4


async def test_a_token_is_timed_at_the_socket_read_that_brought_it(sse_server, monkeypatch):
    # The loop is kept busy for 150 ms right after the first token's socket read, before the
    # stream's task can run (a callback queued ahead of it): TTFT must not include that wait.
    from types import SimpleNamespace

    from driver.load import stream_request

    sse_server.first_delay, sse_server.interval, sse_server.tokens = 0.05, 0.01, 5
    hogged: list[float] = []
    plain = stream_request.TimedResponseHandler.data_received

    def hog_after_the_first_token(self, data: bytes) -> None:
        if b'"content"' in data and not hogged:
            hogged.append(time.perf_counter())
            self._loop.call_soon(time.sleep, 0.15)  # ahead of the task's wake-up
        plain(self, data)

    monkeypatch.setattr(stream_request.TimedResponseHandler, "data_received",
                        hog_after_the_first_token)
    ticks: list = []
    counter, llm_counter = _counter(ticks)
    path = LlmRequests(LLM, 0, 30.0, 4, None, counter, llm_counter)  # type: ignore[arg-type]
    path.open(None, time.perf_counter(), 0.0)  # type: ignore[arg-type]
    counter.start(path.t0, 0.0, 0)
    stream = Stream(path, 1, time.perf_counter())
    stream.prompt, body = path._body()
    request = SimpleNamespace(method="POST", url=f"{sse_server.url}/v1/chat/completions",
                              headers={"content-type": "application/json"})
    sent = time.perf_counter()
    _, _, _, result = await path._exchange(path.session, stream, request, body, sent)
    await path.close()
    assert hogged and result is not None and result.outcome == OK
    assert result.e2e_sent_s >= 0.15 + 0.05  # the loop was held
    server_first = sse_server.first_at[0]
    assert server_first <= result.ttft_sent_s <= hogged[0] - sent + 0.005  # the read's time
    assert result.ttft_sent_s < server_first + 0.05

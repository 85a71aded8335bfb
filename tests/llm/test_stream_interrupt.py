"""Ctrl-C on a streaming run: the streams it cuts are the operator's choice, not the endpoint's
failure. A real `loadwatch run --headless` against the tests' SSE server, interrupted with
SIGINT while streams are open: exit 130, footer `interrupted`, the cut streams counted apart
(`interrupted`), no `Cancelled` error, and an ensure on the error rate that still holds.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from metrics.recording import read_recording
from metrics.records import Tick
from tests.llm.conftest import write
from tests.llm.test_stream_worker import llm_profile
from tests.reliability.runs import processes_with, start_run

pytestmark = pytest.mark.timeout(60)


async def test_sigint_cuts_open_streams_without_counting_them_as_errors(sse_server, tmp_path):
    sse_server.first_delay, sse_server.interval = 0.02, 0.25  # 20 tokens: 5 s a stream
    path = write(tmp_path, llm_profile(
        sse_server.url, "    - {duration: 30, arrivalRate: 4}\n  ensure:\n    maxErrorRate: 1",
        load="  mode: concurrency"))
    run = await start_run(path, tmp_path / "run.jsonl", None)
    try:
        async with asyncio.timeout(30):
            while sse_server.open < 4 or len(sse_server.first_at) < 4:
                assert run.process.returncode is None, run.output
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a token or two into each stream
        run.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            code = await run.process.wait()
    finally:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()
    await asyncio.gather(*run._readers, return_exceptions=True)
    assert code == 130, run.output
    recording = read_recording(tmp_path / "run.jsonl")
    footer = recording.footer
    assert footer is not None and footer.reason == "interrupted"
    ticks = [r for r in recording.records if isinstance(r, Tick)]
    assert sum(t.interrupted for t in ticks) >= 4
    assert not any(t.errors.get("Cancelled") for t in ticks)
    total = footer.summary["total"]
    assert total["errors_total"] == 0 and total["error_rate"] == 0.0
    assert footer.summary["llm"]["total"]["interrupted"] >= 4
    assert all(check["ok"] for check in footer.ensure)
    assert "cut by the interrupt" in run.output
    assert "Traceback" not in run.output
    assert processes_with(run.token) == []

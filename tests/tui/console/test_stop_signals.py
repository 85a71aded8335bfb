"""Stop signals after a command's work is done: the exit code it decided stands.

A real child process enters and leaves ``stop_signals`` on a real event loop, then signals
itself while it is still on its way out (the window in which CI once saw a run killed with
-15 after its recording said exit 0).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap

import pytest

from tui.commands.cli import main
from tui.console.launch import STOP_SIGNALS, signals_given_back, stop_signals

CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys, time
    from tui.console.launch import stop_signals

    async def command():
        with stop_signals(lambda name: None):
            await asyncio.sleep(0)
        return 0

    code = asyncio.run(command())
    for _ in range({times}):
        os.kill(os.getpid(), signal.{name})
        time.sleep(0.05)
    print("exiting with", code, flush=True)
    sys.exit(code)
""")


def child(name: str, times: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD.format(name=name, times=times)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", [s.name for s in STOP_SIGNALS])
def test_one_stop_signal_after_the_work_is_done_changes_nothing(name):
    done = child(name, 1)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "exiting with 0\n"
    assert "Traceback" not in done.stderr


def test_a_second_one_ends_the_process_at_once_with_130():
    done = child("SIGTERM", 2)
    assert done.returncode == 130, done.stderr
    assert done.stdout == ""


def test_a_caller_that_goes_on_gets_its_handlers_back():
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    async def command() -> None:
        with stop_signals(lambda name: None):
            pass

    with signals_given_back():
        asyncio.run(command())
        assert all(signal.getsignal(s) is not before[s] for s in STOP_SIGNALS)
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before


def test_main_called_in_process_gives_them_back(tmp_path, capsys):
    # A one-second run against a closed port: no request succeeds, the run ends with 4; what
    # matters is that it went through stop_signals and the caller got its handlers back.
    profile = tmp_path / "p.yml"
    profile.write_text("config:\n  target: http://127.0.0.1:9\n  phases:\n"
                       "    - {duration: 1, arrivalRate: 2}\n"
                       "scenarios:\n  - flow:\n      - post: {url: /}\n")
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    assert main(["run", str(profile), "--headless", "--no-record", "--workers", "1"]) == 4
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before

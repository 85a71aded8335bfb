"""The monitor in a real terminal: tmux runs ``loadwatch`` with no arguments (the sandbox
demo), keys are sent as a person would type them, and the pane is read back.

The tmux server runs on a socket of its own, so the test touches no other tmux session.
Waiting polls the pane: a terminal offers nothing to await.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics.recording import read_recording
from metrics.records import Event

LOADWATCH = Path(sys.executable).parent / "loadwatch"
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Pane:
    def __init__(self, socket: str, session: str) -> None:
        self.socket = socket
        self.session = session

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=False, timeout=10).stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, needle: str, timeout: float = 60.0, present: bool = True) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if (needle in text) == present:
                return text
            time.sleep(0.2)
        what = "never appeared" if present else "never went"
        raise AssertionError(f"{needle!r} {what}; the pane shows:\n{self.text()}")

    def wait_gone(self, needle: str) -> str:
        return self.wait_for(needle, 10.0, present=False)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    socket = f"loadwatch-test-{os.getpid()}"
    pane = Pane(socket, "monitor")
    # COLUMNS/LINES from the test process (pytest sets 80x24) would beat the terminal's size.
    command = f"env -u COLUMNS -u LINES '{LOADWATCH}'; echo \"EXIT=$?\"; sleep 60"
    # The size from the first moment: with -x/-y alone the program may start at 80x24.
    config = tmp_path / "tmux.conf"
    config.write_text("set -g default-size 160x48\n")
    subprocess.run(["tmux", "-L", socket, "-f", str(config), "new-session", "-d", "-s",
                    "monitor", "-x", "160", "-y", "48", "-c", str(tmp_path), command],
                   check=True, timeout=10)
    try:
        yield pane
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, timeout=10)


def test_loadwatch_in_tmux_on_the_sandbox_demo(pane: Pane, tmp_path: Path) -> None:
    first = pane.wait_for(" LIVE ")
    assert "sagemaker:loadwatch-sandbox/AllTraffic (the sandbox)" in first
    assert "phase 1/4 warm up" in first

    pane.keys("Up")  # +rate: small step of the demo's 700 req/s peak is 50
    pane.wait_for("manual")
    pane.keys("p")
    pane.wait_for(" PAUSED")
    pane.keys("p")
    pane.wait_for(" LIVE")
    pane.keys("s")  # back to the schedule: the manual rate is gone from the header
    pane.wait_gone("manual")

    pane.keys("?")
    help_text = pane.wait_for("loadwatch keys")
    assert "rate-up" in help_text and "scaling-disable" in help_text
    pane.keys("?")  # closes it (escape would merge with the next key into alt+w)
    pane.wait_gone("loadwatch keys")
    pane.keys("w")
    pane.wait_for("window 30 min")

    pane.keys("q")
    dialog = pane.wait_for("Quit loadwatch?")
    assert "still running" in dialog
    pane.keys("y")
    done = pane.wait_for("EXIT=", timeout=60)
    assert "EXIT=130" in done
    assert "recording: recordings/" in done

    recordings = list((tmp_path / "recordings").glob("*-sandbox-demo.jsonl"))
    assert len(recordings) == 1
    recording = read_recording(recordings[0])
    assert recording.footer is not None and recording.footer.reason == "interrupted"
    names = [r.name for r in recording.records if isinstance(r, Event)
             and r.source == "operator"]
    assert names == ["rate_set", "paused", "resumed", "schedule"]
    restored = [r for r in recording.records if isinstance(r, Event)
                and r.name == "scaling_restored"]
    assert restored, "the demo enables scaling at start; quitting restores it"

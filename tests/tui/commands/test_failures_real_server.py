"""Against a real model server (nginx -> gunicorn -> Flask): a run at a path that 404s ends by
saying so plainly, and its (failed) requests stay out of the ok latency figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metrics.recording import read_recording
from metrics.records import Tick
from metrics.stats import summarize
from tests.servers.model_server import available, model_server

pytestmark = pytest.mark.skipif(
    not available(), reason="needs nginx (Debian nginx-light) and gunicorn + Flask (test extra)")

PROFILE = """\
config:
  target: {target}
  phases:
    - duration: 2
      arrivalRate: 20
      name: steady
scenarios:
  - flow:
      - post:
          url: /DummyStage/DT
          body: "5.1,3.5,1.4,0.2"
          headers:
            content-type: text/csv
"""


def test_a_run_where_every_request_404s_says_so(tmp_path: Path) -> None:
    with model_server(access_log=True) as srv:
        profile = tmp_path / "p.yml"
        profile.write_text(PROFILE.format(target=srv.url))
        record = tmp_path / "r.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "tui", "run", "--headless", "--record", str(record),
             str(profile)], capture_output=True, text=True, timeout=90, check=False)
        statuses = srv.statuses()
    # Not one request succeeded: exit 4 whatever ensure says, and the last line says so.
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("loadwatch: not one of 40 ")
    lines = done.stdout.strip().splitlines()
    # The server's own words beside the count and in the sentence (issue 24), its page's text
    # without the tags.
    said = "“404 Not Found Not Found The requested URL was not found on the server."
    assert any(line.startswith("every request got HTTP 404 — is the path right? the profile "
                               f"posts to /DummyStage/DT; the server said: {said}")
               for line in lines), lines
    assert any(line.startswith(f"failed HTTP status: 404 ×40 ({said}") for line in lines), lines
    total = summarize(r for r in read_recording(record).records if isinstance(r, Tick))["total"]
    assert statuses.count(404) == 40  # nginx saw what the client counted (and a /ping)
    assert total["latency_ms"]["count"] == 0 and total["failed_latency_ms"]["count"] == 40

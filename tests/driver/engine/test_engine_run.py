"""A whole run with the engine section: real workers against a real server, the engine's page
on another; a good endpoint is recorded and replays into the timeline, a down one is one event
and the run completes as if it were not there (a slow one: tests/driver/engine/test_scraper)."""

from __future__ import annotations

import socket

from driver.profile import load_profile
from driver.session import RunOptions, prepare_run
from metrics.engine import ENGINE, RUNNING
from metrics.recording import read_recording
from metrics.records import Datapoint, Event
from metrics.timeline import Timeline
from tests.driver.engine.conftest import MetricsServer


def profile_text(target: str, engine_url: str, extra: str = "") -> str:
    return f"""
config:
  target: {target}
  phases:
    - {{duration: 3, arrivalRate: 20, name: steady}}
scenarios:
  - flow:
      - post: {{url: /invocations, body: "5,3.5,1.3,0.3"}}
engine:
  url: {engine_url}
  interval: 1s
  timeout: 0.5s
{extra}
"""


async def run(path, tmp_path, **options):  # type: ignore[no-untyped-def]
    prepared = await prepare_run(load_profile(path), RunOptions(record=tmp_path / "r.jsonl",
                                                                **options))
    try:
        result = await prepared.session.run()
    finally:
        await prepared.close()
    return prepared, result, read_recording(tmp_path / "r.jsonl")


async def test_engine_series_are_recorded_and_replay_into_the_timeline(
        target_server, metrics_server: MetricsServer, write_profile, tmp_path) -> None:
    path = write_profile(profile_text(target_server.url, metrics_server.url,
                                      "  series: [sglang:prompt_tokens]"))
    _, result, recording = await run(path, tmp_path)
    assert result.exit_code == 0 and result.summary["total"]["requests"] == 60
    points = [r for r in recording.records if isinstance(r, Datapoint)]
    assert points and {p.namespace for p in points} == {ENGINE}
    # Scraped through the run and once more after it: at least the run's seconds.
    assert metrics_server.scrapes >= 3
    assert {p.metric for p in points} >= {RUNNING, "sglang:prompt_tokens"}
    timeline = Timeline()
    for record in recording.records:
        timeline.add(record)
    assert timeline.engine_name == "sglang" and timeline.latest_engine(RUNNING, "Value") == 162
    assert not timeline.server  # engine series stay apart from CloudWatch's


async def test_a_down_engine_endpoint_is_one_event_and_the_run_completes(
        target_server, write_profile, tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_profile(profile_text(target_server.url, "http://127.0.0.1:1/metrics"))
    # --engine-metrics wins over the profile's url
    _, result, recording = await run(path, tmp_path,
                                     engine_url=f"http://127.0.0.1:{port}/metrics")
    assert result.exit_code == 0 and result.summary["total"]["requests"] == 60
    failed = [r for r in recording.records if isinstance(r, Event)
              and r.name == "engine_scrape_failed"]
    assert len(failed) == 1 and f":{port}/metrics" in failed[0].message
    assert not [r for r in recording.records if isinstance(r, Datapoint)]

"""The engine scraper against real aiohttp servers: a page that changes between scrapes, and
the bad endpoints (down, slow, garbage, an HTTP error), each said once, none fatal."""

from __future__ import annotations

import asyncio
import socket

import pytest

from driver.engine import EngineScraper
from driver.engine.scraper import shown_url
from metrics.engine import ENGINE, RUNNING, TTFT, Selector
from metrics.records import Datapoint, Event, Record
from tests.driver.engine.conftest import MetricsServer


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def scraper_for(url: str, records: list[Record], clock: Clock, **kwargs) -> EngineScraper:  # type: ignore[no-untyped-def]
    return EngineScraper(url, records.append, clock=clock, timeout=kwargs.pop("timeout", 1.0),
                         **kwargs)


def events(records: list[Record]) -> list[Event]:
    return [r for r in records if isinstance(r, Event)]


async def test_scrapes_become_engine_datapoints(metrics_server: MetricsServer) -> None:
    records: list[Record] = []
    clock = Clock()
    scraper = scraper_for(metrics_server.url, records, clock)
    try:
        assert await scraper.scrape_once()
        body = metrics_server.body
        metrics_server.body = body.replace(
            'sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="meta-llama/'
            'Llama-3.1-8B-Instruct"} 11008.0',
            'sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="meta-llama/'
            'Llama-3.1-8B-Instruct"} 11018.0')
        clock.now += 5
        assert await scraper.scrape_once()
    finally:
        await scraper.close()
    points = [r for r in records if isinstance(r, Datapoint)]
    assert {p.namespace for p in points} == {ENGINE}
    assert any(p.metric == RUNNING and p.value == 162.0 for p in points)
    # 10 observations past 30 s (the +Inf bucket): the interval's p99 is the highest bound.
    assert [p.value for p in points if p.metric == TTFT and p.stat == "p99"] == [30_000.0]
    found = [e for e in events(records) if e.name == "engine_found"]
    assert len(found) == 1 and found[0].data["engine"] == "sglang"
    assert "SGLang" in found[0].message


async def test_a_down_endpoint_is_one_event_and_the_loop_goes_on() -> None:
    records: list[Record] = []
    url = f"http://127.0.0.1:{free_port()}/metrics"
    naps: list[float] = []

    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            raise asyncio.CancelledError

    scraper = scraper_for(url, records, Clock(), sleep=sleep, interval=5.0)
    with pytest.raises(asyncio.CancelledError):
        await scraper.run()
    await scraper.close()
    failed = [e for e in events(records) if e.name == "engine_scrape_failed"]
    assert len(failed) == 1  # three failed scrapes, one event: the failure did not change
    assert failed[0].data["kind"] == "unreachable"
    assert "cannot connect" in failed[0].message and "run goes on" in failed[0].message
    assert naps == [5.0, 5.0, 5.0] and scraper.failures == 3


async def test_a_slow_endpoint_times_out_and_recovers(metrics_server: MetricsServer) -> None:
    records: list[Record] = []
    metrics_server.delay = 1.0
    scraper = scraper_for(metrics_server.url, records, Clock(), timeout=0.2)
    try:
        assert not await scraper.scrape_once()
        metrics_server.delay = 0.0
        assert await scraper.scrape_once()
    finally:
        await scraper.close()
    names = [e.name for e in events(records)]
    assert names == ["engine_scrape_failed", "engine_found", "engine_scrape_recovered"]
    assert events(records)[0].data["kind"] == "timeout"
    assert "no answer within 0.2 s" in events(records)[0].message


@pytest.mark.parametrize(("body", "status", "kind", "words"), [
    ("<html><body>Welcome to nginx!</body></html>", 200, "not_prometheus",
     "not Prometheus text"),
    ("", 200, "not_prometheus", "no series"),
    ("oops", 500, "http", "HTTP 500"),
])
async def test_garbage_or_an_error_page_is_said_once(
        metrics_server: MetricsServer, body: str, status: int, kind: str, words: str) -> None:
    records: list[Record] = []
    metrics_server.body, metrics_server.status = body, status
    scraper = scraper_for(metrics_server.url, records, Clock())
    try:
        for _ in range(3):
            assert not await scraper.scrape_once()
    finally:
        await scraper.close()
    failed = events(records)
    assert [e.name for e in failed] == ["engine_scrape_failed"]
    assert failed[0].data["kind"] == kind and words in failed[0].message
    assert not [r for r in records if isinstance(r, Datapoint)]


async def test_an_unknown_series_is_said_once(metrics_server: MetricsServer) -> None:
    records: list[Record] = []
    scraper = scraper_for(metrics_server.url, records, Clock(),
                          series=[Selector.parse("sglang:num_running_req")])
    try:
        for _ in range(3):
            assert await scraper.scrape_once()
    finally:
        await scraper.close()
    unknown = [e for e in events(records) if e.name == "engine_series_unknown"]
    assert len(unknown) == 1
    assert "no series sglang:num_running_req" in unknown[0].message
    assert "did you mean sglang:num_running_reqs?" in unknown[0].message


def test_events_show_the_url_without_its_credentials() -> None:
    assert shown_url("http://user:secret@127.0.0.1:8000/metrics?token=abc") == \
        "http://127.0.0.1:8000/metrics"


async def test_a_named_engine_whose_series_are_not_there_is_said_once(
        metrics_server: MetricsServer) -> None:
    records: list[Record] = []
    scraper = scraper_for(metrics_server.url, records, Clock(), engine="vllm")  # SGLang's page
    try:
        for _ in range(2):
            assert await scraper.scrape_once()
    finally:
        await scraper.close()
    said = [e.message for e in events(records)]
    assert said == [f"engine metrics: none of vLLM's series at {metrics_server.url}; its "
                    "series look like SGLang's (engine: vllm in the profile)"]
    assert not [r for r in records if isinstance(r, Datapoint)]

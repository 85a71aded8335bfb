"""Shared fixtures: local HTTP targets on 127.0.0.1 port 0 and profile files.

The suite runs on pytest-xdist workers (pyproject.toml's addopts). Tests marked
``xdist_group(name)`` run one after another on one worker; the groups:

- ``measured``: end-to-end runs whose verdicts rest on measured rates and latencies (the
  acceptance test, the capacity searches). Together they are the longest stretch of the
  suite, so they go out first; run apart, they never load the machine for each other.
- ``faults``, ``ray``, ``browser``, ``streams``: modules with costly module-scoped fixtures
  (sandboxes, a Ray cluster, Chromium renderings), set up once rather than once per worker.
- ``case-counts``: the property tests, so that one process counts their cases.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests.servers.loopback import serving


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, put the grouped tests first, the ``measured`` group before all.

    With ``--dist loadgroup --no-loadscope-reorder`` work goes out in collection order, so a
    long group collected last would start last and set the suite's length. Every worker sorts
    the same way, as xdist requires; a serial run keeps the collection order.
    """
    if not hasattr(config, "workerinput"):
        return

    def rank(item: pytest.Item) -> int:
        groups = {mark.args[0] for mark in item.iter_markers("xdist_group")}
        return 0 if "measured" in groups else 1 if groups else 2

    items.sort(key=rank)


@dataclass
class TargetServer:
    """A real aiohttp server whose behaviour tests steer while it runs."""

    url: str = ""
    delay: float = 0.0  # seconds before answering
    status: int = 200
    body: bytes = b"setosa\n"
    headers: dict[str, str] = field(default_factory=dict)
    stall_until: float = 0.0  # loop time until which every request waits
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    seen_bodies: list[bytes] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.read()
            if len(self.seen_bodies) < 10_000:
                self.seen_headers.append(dict(request.headers))
                self.seen_bodies.append(body)
            loop = asyncio.get_running_loop()
            if self.stall_until > loop.time():
                await asyncio.sleep(self.stall_until - loop.time())
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.Response(status=self.status, body=self.body, headers=self.headers)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def target_server() -> AsyncIterator[TargetServer]:
    server = TargetServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    async with serving(app) as server.url:
        yield server


@pytest.fixture
def write_profile(tmp_path: Path) -> Callable[..., Path]:
    """Write a YAML profile (dedented) into the test's folder and return its path."""

    def write(text: str, name: str = "profile.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write

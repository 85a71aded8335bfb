"""A real HTTP server serving an engine's /metrics page, steered by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tests.servers.loopback import serving

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "engine"


@dataclass
class MetricsServer:
    """A real HTTP server whose /metrics page, status and delay the test sets."""

    url: str = ""
    body: str = ""
    status: int = 200
    delay: float = 0.0
    scrapes: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.scrapes += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text=self.body,
                            content_type="text/plain")


@pytest.fixture
async def metrics_server() -> AsyncIterator[MetricsServer]:
    server = MetricsServer(body=(PAGES / "sglang-metrics.txt").read_text())
    app = web.Application()
    app.router.add_get("/metrics", server.handle)
    async with serving(app) as url:
        server.url = f"{url}/metrics"
        yield server



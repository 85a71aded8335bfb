"""An independent SSE server with known timings: the yardstick for the worker's TTFT and ITL.

Written here, not taken from the sandbox: it sleeps ``first_delay`` before the first token and
``interval`` between tokens, one token per SSE chunk, then a usage chunk and ``[DONE]``, like
vLLM's OpenAI server with ``stream_options.include_usage``. It counts the streams open at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.aws.conftest import aws_env, moto_aws  # noqa: F401 (moto fixtures for scaling)
from tests.servers.loopback import serving


class SseServer:
    def __init__(self) -> None:
        self.first_delay = 0.05
        self.interval = 0.01
        self.tokens: int | None = None  # None: the request's max_tokens
        self.open = 0
        self.max_open = 0
        self.requests = 0
        self.bodies: list[dict] = []
        self.first_at: list[float] = []  # per stream: first token written - request arrived
        self.gaps: list[float] = []  # between tokens written, as the server saw them
        self.url = ""

    async def chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter()
        body = await request.json()
        self.bodies.append(body)
        self.requests += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            if not body.get("stream"):
                return web.json_response({"error": "stream only"}, status=400)
            count = self.tokens or body.get("max_tokens", 16)
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            start = time.perf_counter()
            last = 0.0
            for i in range(count):
                # Sleep to an absolute schedule so that late wake-ups do not accumulate.
                due = start + self.first_delay + i * self.interval
                await asyncio.sleep(max(due - time.perf_counter(), 0))
                chunk = {"choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                now = time.perf_counter()
                if i == 0:
                    self.first_at.append(now - arrived)
                else:
                    self.gaps.append(now - last)
                last = now
            usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": count}}
            await response.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
            await response.write_eof()
            return response
        except ConnectionResetError:  # the client gave up (a timeout test): nothing to write to
            return web.Response(status=499)
        finally:
            self.open -= 1


@pytest.fixture
async def sse_server() -> AsyncIterator[SseServer]:
    server = SseServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    async with serving(app) as server.url:
        yield server


def write(tmp_path: Path, text: str, name: str = "llm.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path

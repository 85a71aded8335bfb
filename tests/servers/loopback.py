"""An aiohttp application served on 127.0.0.1 for the length of a test: the one setup the
test servers share (a fixture's own handler class, routed however it likes)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a free port of 127.0.0.1; yields its base URL (``http://127.0.0.1:PORT``).

    On leaving, requests still in flight (a test's slow or stalled answers) are cancelled
    rather than waited out: aiohttp would wait up to 60 s for them by default.
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()

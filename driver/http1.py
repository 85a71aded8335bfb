"""A lean HTTP/1.1 client for the load worker: keep-alive pool, pre-encoded requests.

Why not aiohttp's ``ClientSession``: per request it builds URL, header and request objects,
a response object, a stream and a connection wrapper, which cost the worker 200–400 µs of CPU
per request (hey, in Go, spends 65–90 µs); on a shared machine that CPU is taken from the
server under test. A load worker sends the same few requests again and again, so here each
request is encoded to bytes once (``encode``) and written in one call; responses are parsed
by llhttp through ``httptools`` (the parser uvicorn uses). One request at a time per
connection, no redirects, no cookies, no decompression: what the worker needs, nothing more.

Stale keep-alive connections: a server may close an idle connection just as we reuse it.
A request that fails on a *reused* connection before any byte of its response arrived is
sent once more on a fresh connection (``Response.retried``); once the response has begun,
never. Idle connections are not reused after ``idle_s`` (see ``IDLE_S``).

Errors are raised as ``HttpError`` with aiohttp's names for the same failures
(``ClientConnectorError``, ``ServerDisconnectedError``, ``ClientPayloadError``...), so error
codes in recordings read as they did.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httptools
from multidict import CIMultiDict
from yarl import URL

from metrics.records import CONN_ERROR, OTHER

# Idle connections older than this are closed rather than reused. Below the shortest common
# server keep-alive timeouts (5 s: uvicorn, Apache, Node.js, nginx set up like our model
# server; ELB 60 s, nginx's default 75 s), so we close first and a request is rarely written
# into a connection the server is closing. Servers with shorter limits (gunicorn's async
# workers, 2 s) are covered by the retry.
IDLE_S = 4.0


class HttpError(Exception):
    def __init__(self, kind: str, code: str, message: str, retried: bool = False) -> None:
        super().__init__(message)
        self.kind, self.code, self.message, self.retried = kind, code, message, retried


class _Stale(Exception):
    """The connection failed before any byte of the response: safe to send again."""

    def __init__(self, error: HttpError) -> None:
        self.error = error


class _Headers(Mapping[str, str]):
    """Response headers, decoded on first look: only error responses are looked into."""

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: CIMultiDict[str] | None = None

    def _all(self) -> CIMultiDict[str]:
        if self._decoded is None:
            self._decoded = CIMultiDict(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw)
        return self._decoded

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._raw)


class Response:
    __slots__ = ("body", "headers", "retried", "status")

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes,
                 retried: bool) -> None:
        self.status, self.body, self.retried = status, body, retried
        self.headers = _Headers(raw_headers)


class Wire:
    """One request ready to send: where to, and its bytes."""

    __slots__ = ("data", "head", "key")

    def __init__(self, key: tuple[str, str, int], data: bytes, head: bool) -> None:
        self.key, self.data, self.head = key, data, head


def encode(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Wire:
    """Encode a request once; raises ValueError for a URL or header that cannot go out."""
    parsed = URL(url)
    scheme = parsed.scheme
    if scheme not in ("http", "https") or not parsed.raw_host:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parsed.raw_host
    port = parsed.port or (443 if scheme == "https" else 80)
    lines = [f"{method} {parsed.raw_path_qs or '/'} HTTP/1.1"]
    names = {name.lower() for name in headers}
    if "host" not in names:
        bracketed = f"[{host}]" if ":" in host else host
        default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
        lines.append(f"Host: {bracketed}" + ("" if default else f":{port}"))
    if "accept" not in names:
        lines.append("Accept: */*")
    for name, value in headers.items():
        if any(c in name or c in str(value) for c in "\r\n\0") or ":" in name:
            raise ValueError(f"header {name!r} holds a line break or a colon")
        lines.append(f"{name}: {value}")
    if body is not None and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines).encode() + b"\r\n\r\n"  # UTF-8, as aiohttp sent them
    return Wire((scheme, host, port), head + (body or b""), method.upper() == "HEAD")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Any] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._reset(head=False)

    def _reset(self, head: bool) -> None:
        self.head = head
        self.started = False  # a byte of the current response has arrived
        self.headers_done = False
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.delimited = False  # the body has a length or is chunked (not ended by close)
        self.keep_alive = True

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # nothing asked: a stray byte makes the connection unusable
            self.close()
            return
        self.started = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.keep_alive = False
            self._fail(HttpError(OTHER, "ClientResponseError", f"bad response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done and not self.delimited:
            self.keep_alive = False
            self.on_message_complete()  # the body ran until the server closed
            return
        if self.started:
            self._fail(HttpError(CONN_ERROR if not self.headers_done else OTHER,
                                 "ServerDisconnectedError" if not self.headers_done
                                 else "ClientPayloadError",
                                 "Server disconnected" if not self.headers_done
                                 else "Response payload is not completed"))
            return
        reason = f": {exc}" if exc else ""
        self._fail(_Stale(HttpError(CONN_ERROR, "ServerDisconnectedError",
                                    f"Server disconnected before answering{reason}")))

    # --- httptools callbacks -------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or lowered == b"transfer-encoding":
            self.delimited = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()
        if self.head or self.status in (204, 304) or 100 <= self.status < 200:
            self.delimited = True
        if self.head:
            # llhttp would wait for a body a HEAD answer never has: finish here, and do not
            # reuse the connection (the parser's state is off by that body).
            self.keep_alive = False
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self.keep_alive = self.keep_alive and self.parser.should_keep_alive()
        waiter.set_result((self.status, self.raw_headers, b"".join(self.body)))

    # --- use -----------------------------------------------------------------------------

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    async def exchange(self, wire: Wire) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        self._reset(wire.head)
        self.waiter = self.loop.create_future()
        assert self.transport is not None
        self.transport.write(wire.data)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Client:
    """Connections per (scheme, host, port), reused most-recent-first; the caller bounds how
    many requests run at once (the worker's connection semaphore)."""

    def __init__(self, idle_s: float = IDLE_S, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.idle_s = idle_s
        self._clock = clock
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()

    def _reusable(self, key: tuple[str, str, int], now: float) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self.idle_s:
                return connection
            self._discard(connection)
        return None

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        loop = asyncio.get_running_loop()
        scheme, host, port = key
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            _transport, connection = await loop.create_connection(
                lambda: _Connection(loop), host, port, ssl=context,
                server_hostname=host if context else None)
        except ssl.SSLError as exc:
            raise HttpError(CONN_ERROR, "ClientConnectorSSLError",
                            f"Cannot connect to host {host}:{port} ssl:True [{exc}]") from None
        except OSError as exc:
            raise HttpError(CONN_ERROR, "ClientConnectorError",
                            f"Cannot connect to host {host}:{port} ssl:{context is not None} "
                            f"[{exc.strerror or exc}]") from None
        self._all.add(connection)
        return connection

    async def request(self, wire: Wire) -> Response:
        loop = asyncio.get_running_loop()
        connection = self._reusable(wire.key, self._now(loop))
        if connection is None:
            return await self._fresh(wire, loop, retried=False)
        try:
            result = await connection.exchange(wire)
        except _Stale:
            self._discard(connection)
            return await self._fresh(wire, loop, retried=True)
        except BaseException:
            self._discard(connection)
            raise
        return self._finish(wire.key, connection, result, loop, retried=False)

    async def _fresh(self, wire: Wire, loop: asyncio.AbstractEventLoop,
                     retried: bool) -> Response:
        connection = await self._connect(wire.key)
        try:
            result = await connection.exchange(wire)
        except _Stale as stale:
            self._discard(connection)
            stale.error.retried = retried
            raise stale.error from None
        except HttpError as error:
            self._discard(connection)
            error.retried = retried
            raise
        except BaseException:  # cancelled (timeout, kill): the answer may still come
            self._discard(connection)
            raise
        return self._finish(wire.key, connection, result, loop, retried)

    def _finish(self, key: tuple[str, str, int], connection: _Connection,
                result: tuple[int, list[tuple[bytes, bytes]], bytes],
                loop: asyncio.AbstractEventLoop, retried: bool) -> Response:
        if connection.keep_alive and not connection.closed:
            connection.idle_since = self._now(loop)
            self._idle.setdefault(key, []).append(connection)
        else:
            self._discard(connection)
        return Response(*result, retried)

    def _now(self, loop: asyncio.AbstractEventLoop) -> float:
        return self._clock() if self._clock is not None else loop.time()

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._all.discard(connection)

    def close(self) -> None:
        for connection in list(self._all):
            self._discard(connection)
        self._idle.clear()

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
import time
from collections import deque
from collections.abc import Callable

import httptools

from driver.http.messages import HttpError, Response, Wire, encode
from metrics.records import CONN_ERROR, OTHER

__all__ = ["IDLE_S", "Client", "Flight", "HttpError", "Response", "Wire", "encode"]

# Idle connections older than this are closed rather than reused. Below the shortest common
# server keep-alive timeouts (5 s: uvicorn, Apache, Node.js, nginx set up like our model
# server; ELB 60 s, nginx's default 75 s), so we close first and a request is rarely written
# into a connection the server is closing. Servers with shorter limits (gunicorn's async
# workers, 2 s) are covered by the retry.
IDLE_S = 4.0


class Flight:
    """One request through the client; the worker subclasses it to count what happens.

    ``on_sent`` runs when the request gets a connection (queued requests wait for one),
    ``on_done`` once, with a response or an ``HttpError``.
    """

    __slots__ = ("connection", "task", "wire")

    def __init__(self) -> None:
        self.connection: _Connection | None = None
        self.task: asyncio.Task[None] | None = None  # while a fresh connection is opened
        self.wire: Wire | None = None

    def on_sent(self) -> None:
        pass

    def on_done(self, response: Response | None, error: HttpError | None) -> None:
        pass


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time; completion by callback, no task."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        # Headers and body chunks go straight into a dict and a list, reused from response
        # to response: C-level callbacks, no Python frame per header (httptools looks the
        # callbacks up once, when the parser is made).
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self.on_header = self._headers.__setitem__
        self.on_body = self._body.append
        self.parser = httptools.HttpResponseParser(self)
        self.flight: Flight | None = None
        self.reused = False
        self.retried = False
        self.closed = False
        self.idle_since = 0.0
        self.head = False
        self.started = False  # a byte of the current response has arrived
        self.headers_done = False
        self.status = 0
        self.keep_alive = True

    def start(self, flight: Flight, wire: Wire, reused: bool, retried: bool) -> None:
        # The state of one exchange, set afresh (in one place: this runs once a request).
        self.head, self.started, self.headers_done, self.status = wire.head, False, False, 0
        self._headers.clear()
        self._body.clear()
        self.keep_alive = True
        self.flight, self.reused, self.retried = flight, reused, retried
        flight.connection = self
        assert self.transport is not None
        self.transport.write(wire.data)

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.flight is None:  # nothing asked: a stray byte makes the connection unusable
            self.close()
            return
        self.started = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.keep_alive = False
            self._fail(HttpError(OTHER, "ClientResponseError", f"bad response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.flight is None:
            return
        if self.headers_done and not self._delimited():
            self.keep_alive = False
            self.on_message_complete()  # the body ran until the server closed
        elif self.started:
            if self.headers_done:
                self._fail(HttpError(OTHER, "ClientPayloadError",
                                     "Response payload is not completed"))
            else:
                self._fail(HttpError(CONN_ERROR, "ServerDisconnectedError",
                                     "Server disconnected"))
        elif self.reused and not self.retried:
            flight, self.flight = self.flight, None
            self.client._retry(self, flight)
        else:
            reason = f": {exc}" if exc else ""
            self._fail(HttpError(CONN_ERROR, "ServerDisconnectedError",
                                 f"Server disconnected before answering{reason}"))

    def _delimited(self) -> bool:
        """The body has a length or is chunked (else it ends when the server closes)."""
        if self.head or self.status in (204, 304) or 100 <= self.status < 200:
            return True
        return any(k.lower() in (b"content-length", b"transfer-encoding")
                   for k in self._headers)

    # --- httptools callbacks -------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()
        if self.head:
            # llhttp would wait for a body a HEAD answer never has: finish here, and do not
            # reuse the connection (the parser's state is off by that body).
            self.keep_alive = False
            self.on_message_complete()

    def on_message_complete(self) -> None:
        flight = self.flight
        if flight is None:
            return
        self.flight = None
        self.keep_alive = self.keep_alive and self.parser.should_keep_alive()
        body = self._body
        response = Response(self.status, self._headers.copy(),
                            body[0] if len(body) == 1 else b"".join(body), self.retried)
        self.client._settle(self, flight, response, None)

    def _fail(self, error: HttpError) -> None:
        flight, self.flight = self.flight, None
        if flight is not None:
            error.retried = self.retried
            self.keep_alive = False
            self.client._settle(self, flight, None, error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Client:
    """Connections per (scheme, host, port), reused most-recent-first, at most ``limit`` in
    use; requests beyond that wait in order for one (their wait is send lag, not service)."""

    def __init__(self, limit: int = 256, idle_s: float = IDLE_S,
                 ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.limit = limit
        self.idle_s = idle_s
        self._ssl = ssl_context
        # Idle times only: any monotonic clock (time.monotonic is a C call, no Python frame).
        self._now: Callable[[], float] = clock if clock is not None else time.monotonic
        self._busy = 0  # connections given to a request (opening or exchanging)
        self._queue: deque[tuple[Flight, Wire]] = deque()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()

    # --- the worker's side -----------------------------------------------------------------

    def submit(self, flight: Flight, wire: Wire) -> None:
        """Send now if a connection can be had, else when one is free."""
        flight.wire = wire
        if self._busy >= self.limit:
            self._queue.append((flight, wire))
        else:
            self._start(flight, wire)

    def withdraw_all(self) -> list[Flight]:
        """Take every request still waiting for a connection out of the queue (not sent)."""
        flights = [flight for flight, _wire in self._queue]
        self._queue.clear()
        return flights

    def abort(self, flight: Flight, error: HttpError) -> None:
        """End a sent request now (timeout, kill): its connection is closed, not reused."""
        connection, flight.connection = flight.connection, None
        if flight.task is not None:
            task, flight.task = flight.task, None
            task.cancel()
            self._settle(None, flight, None, error)
        elif connection is not None and connection.flight is flight:
            connection.flight = None
            connection.keep_alive = False
            self._settle(connection, flight, None, error)

    async def request(self, wire: Wire) -> Response:
        """One request, awaited (for tests and simple uses; the worker uses ``submit``)."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        class _Awaited(Flight):
            __slots__ = ()

            def on_done(self, response: Response | None, error: HttpError | None) -> None:
                if not future.done():
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(response)  # type: ignore[arg-type]

        self.submit(_Awaited(), wire)
        return await future

    # --- inside ----------------------------------------------------------------------------

    def _start(self, flight: Flight, wire: Wire) -> None:
        self._busy += 1
        flight.on_sent()
        connection = self._reusable(wire.key, self._now())
        if connection is None:
            flight.task = asyncio.get_running_loop().create_task(
                self._open(flight, wire, retried=False))
        else:
            connection.start(flight, wire, reused=True, retried=False)

    def _retry(self, connection: _Connection, flight: Flight) -> None:
        """The reused connection failed before any byte: once more on a fresh one."""
        self._discard(connection)
        assert flight.wire is not None
        flight.connection = None
        flight.task = asyncio.get_running_loop().create_task(
            self._open(flight, flight.wire, retried=True))

    async def _open(self, flight: Flight, wire: Wire, retried: bool) -> None:
        try:
            connection = await self._connect(wire.key)
        except (HttpError, ValueError) as exc:
            flight.task = None
            error = exc if isinstance(exc, HttpError) else HttpError(
                CONN_ERROR, "ClientConnectorError", f"Cannot connect: {exc}"[:300])
            error.retried = retried
            self._settle(None, flight, None, error)
            return
        if flight.task is None:  # aborted meanwhile (the abort settled it)
            self._discard(connection)
            return
        flight.task = None
        connection.start(flight, wire, reused=False, retried=retried)

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
                lambda: _Connection(self), host, port, ssl=context,
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

    def _settle(self, connection: _Connection | None, flight: Flight,
                response: Response | None, error: HttpError | None) -> None:
        """A request is over: its connection goes back (or away), the queue moves on."""
        flight.connection = None
        if connection is not None:
            if connection.keep_alive and not connection.closed and error is None:
                connection.idle_since = self._now()
                assert flight.wire is not None
                self._idle.setdefault(flight.wire.key, []).append(connection)
            else:
                self._discard(connection)
        self._busy -= 1
        while self._queue and self._busy < self.limit:
            self._start(*self._queue.popleft())
        flight.on_done(response, error)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._all.discard(connection)

    def close(self) -> None:
        for connection in list(self._all):
            self._discard(connection)
        self._idle.clear()

"""Stale keep-alive connections (issue 11 item 3): retried once, and only when it is safe.

The servers here run in their own thread (or process), so that the client's event loop can
be busy while a server closes a connection: exactly the race a load test meets when a
server's keep-alive timeout ends just as the next request is written.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress

import pytest

from driver.http import Client, HttpError, encode
from driver.load import Worker
from driver.pool import TickMessage, WorkerConfig
from driver.profile import RenderedRequest
from driver.schedule import Phase
from tests.servers import model_server as servers

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsetosa\n"
PARTIAL = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nset"


class Scripted:
    """A socket server whose n-th connection is handled by ``answers[n](conn, self)``."""

    def __init__(self, answers: list[Callable[[socket.socket, Scripted], None]]) -> None:
        self.answers = answers
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = 0
        self.connections = 0
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False
        self._open: set[socket.socket] = set()

    def read_request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        self.requests += 1
        return True

    def serve(self) -> None:
        for answer in self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with self._lock:
                if self._stopping:
                    conn.close()
                    return
                self._open.add(conn)
            with conn:
                answer(conn, self)
            with self._lock:
                self._open.discard(conn)

    def stop(self) -> None:
        """Wake the serving thread wherever it blocks, in accept or in recv.

        Closing a socket does not wake a thread blocked on it; shutting it down does. Without
        this the thread waits for a client that will not come, or for the test's own client
        to close its keep-alive connection, which it cannot do while the test's event loop
        waits here.
        """
        with self._lock:
            self._stopping = True
            for sock in (self.listener, *self._open):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.listener.close()


@contextmanager
def scripted(*answers: Callable[[socket.socket, Scripted], None]) -> Iterator[Scripted]:
    server = Scripted(list(answers))
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)
        assert not thread.is_alive(), "the scripted server did not stop"


def answer_then_close(conn: socket.socket, server: Scripted) -> None:
    """Answer one request as keep-alive (no Connection: close), then close at once: a
    server whose idle timeout is shorter than the client's idle limit."""
    if server.read_request(conn):
        conn.sendall(OK)
    conn.close()
    server.closed.set()


def keep_answering(conn: socket.socket, server: Scripted) -> None:
    while server.read_request(conn):
        conn.sendall(OK)


def hang_up(conn: socket.socket, server: Scripted) -> None:
    server.read_request(conn)


def answer_then_half_answer(conn: socket.socket, server: Scripted) -> None:
    if server.read_request(conn):
        conn.sendall(OK)
    if server.read_request(conn):
        conn.sendall(PARTIAL)


async def test_a_request_on_a_connection_the_server_closed_is_retried_on_a_fresh_one():
    with scripted(answer_then_close, keep_answering) as server, closing(Client()) as client:
        wire = encode("POST", server.url + "/invocations", {}, b"5,3.5,1.3,0.3")
        first = await client.request(wire)
        assert (first.status, first.retried) == (200, False)
        # The loop is busy (as under load) while the server closes the idle connection: the
        # client has not seen the close when it writes the next request into it.
        assert server.closed.wait(5)
        second = await client.request(wire)
        assert (second.status, second.body, second.retried) == (200, b"setosa\n", True)
        assert (server.connections, server.requests) == (2, 2)


async def test_no_retry_once_the_response_has_begun():
    with scripted(answer_then_half_answer, keep_answering) as server, \
            closing(Client()) as client:
        wire = encode("GET", server.url + "/", {}, None)
        assert (await client.request(wire)).status == 200
        with pytest.raises(HttpError) as failed:
            await client.request(wire)
        assert failed.value.code == "ClientPayloadError" and not failed.value.retried
        assert (server.connections, server.requests) == (1, 2)  # nothing sent a third time


async def test_a_fresh_connection_that_fails_is_not_retried():
    with scripted(hang_up, keep_answering) as server, closing(Client()) as client:
        with pytest.raises(HttpError) as failed:
            await client.request(encode("GET", server.url + "/", {}, None))
        assert failed.value.code == "ServerDisconnectedError" and not failed.value.retried
        assert (server.connections, server.requests) == (1, 1)


async def test_idle_connections_are_not_reused_past_the_idle_limit():
    now = [1000.0]
    with scripted(keep_answering, keep_answering) as server, \
            closing(Client(idle_s=4.0, clock=lambda: now[0])) as client:
        wire = encode("GET", server.url + "/", {}, None)
        await client.request(wire)
        now[0] += 3.9
        await client.request(wire)
        assert server.connections == 1  # reused within the limit
        now[0] += 4.1
        assert (await client.request(wire)).retried is False
        assert server.connections == 2  # a new one past it: nothing written into a stale one


def _run_worker(url: str, phases: list[Phase]) -> list:
    emitted: list[dict] = []
    config = WorkerConfig(index=0, workers=1, phases=tuple(phases), weights=(1.0,),
                          scenarios=((RenderedRequest("POST", url + "/invocations",
                                                      {"Content-Type": "text/csv"},
                                                      b"5,3.5,1.3,0.3"),),))

    async def run() -> str:
        with closing(Client()) as client:
            worker = Worker(config, emitted.append)
            worker.start(time.perf_counter(), time.time())
            return await worker.run(client)

    assert asyncio.run(run()) == "completed"
    return [m.tick for m in emitted if isinstance(m, TickMessage)]


@pytest.mark.slow
@pytest.mark.skipif(not servers.available(), reason="needs nginx, gunicorn and Flask")
def test_a_pause_longer_than_the_servers_keepalive_costs_no_errors():
    # nginx closes idle keep-alive connections after 5 s; the pause is 6 s.
    phases = [Phase("before", 1, 40, 40), Phase("pause", 6, 0, 0, pause=True),
              Phase("after", 1, 40, 40)]
    with servers.model_server() as server:
        ticks = _run_worker(server.url, phases)
    outcomes: dict[str, int] = {}
    for tick in ticks:
        for kind, count in tick.outcomes.items():
            outcomes[kind] = outcomes.get(kind, 0) + count
    assert outcomes == {"ok": 80}

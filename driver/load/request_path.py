"""How a load worker's requests go out and are counted back: a ``RequestPath``.

Chosen once per worker from the target: ``driver.load.plain_request`` (the lean HTTP/1.1
client of ``driver.http.client``) or, for a streaming LLM target, ``driver.load.stream_request``
(its own aiohttp session). Both senders, the open loop (``driver.load.sender``) and the closed
loop (``driver.load.concurrency``), start requests through ``start`` and nothing else; the
worker opens the path when the run begins and ends and closes it when the run is over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from driver.load.scenarios import WorkerRequest

if TYPE_CHECKING:
    from driver.http import Client

# The message of every request ``end_all`` ends (a ``Cancelled`` error unless interrupted).
CANCELLED = "cancelled by kill or end of run"
# seq (from 1), request id, what to send, intended send (perf_counter): a path's ``start``.
StartRequest = Callable[[int, int, WorkerRequest, float], None]


class RequestPath(Protocol):
    """One worker's way of sending a request and counting it (``RequestCounter``): each
    request it starts sits in the counter's in-flight map until it is counted."""

    def open(self, client: Client, t0: float, epoch0: float) -> None:
        """The run begins: elapsed 0 is ``t0`` (perf_counter), ``epoch0`` in UTC; ``client``
        is the worker's lean client (a path with its own connections leaves it alone)."""

    def start(self, seq: int, request_id: int, spec: WorkerRequest, intended: float) -> None:
        """Start one request (``StartRequest``); it is counted as it goes."""

    def watch_ends(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a request ends (the closed loop starts the next one)."""

    def end_all(self, killed: bool) -> None:
        """End every request now, each counted at once: the operator's kill (``killed``) or
        the drain's grace over."""

    async def close(self) -> None:
        """After the drain, every request counted: release what the path holds."""

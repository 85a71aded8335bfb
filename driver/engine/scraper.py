"""The engine scraper: one GET of the engine's ``/metrics`` every ``interval`` seconds.

Each page is parsed off the event loop (a vLLM page is ~100 kB of text) and read against the
one before (``metrics.engine.EngineReader``); the datapoints go out through ``emit``. A scrape
that fails (the endpoint down, slower than ``timeout``, an HTTP error, a page that is not
Prometheus text) becomes one event saying what failed, again only when the failure changes,
and an event when scrapes work again: the run goes on either way. Scrapes never overlap (the
next is armed after the previous ended), so a slow endpoint delays only its own figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from metrics.engine import (
    ENGINE,
    EngineReader,
    ExpositionError,
    Selector,
    Snapshot,
    parse_exposition,
)
from metrics.records import Datapoint, Event, Record

SOURCE = "engine"  # Event.source of everything the scraper says
MAX_PAGE_BYTES = 8 * 1024 * 1024
ENGINE_NAMES = {"vllm": "vLLM", "tgi": "TGI", "sglang": "SGLang", "triton": "Triton"}


class ScrapeError(Exception):
    """One failed scrape: ``kind`` (unreachable, timeout, http, not_prometheus, too_large)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


def shown_url(url: str) -> str:
    """The URL as events show it: no user, password or query (they may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class EngineScraper:
    """Scrapes one endpoint until cancelled; ``clock`` (epoch), ``elapsed`` and ``sleep`` are
    injected so tests never wait on real time."""

    def __init__(self, url: str, emit: Callable[[Record], None], *,
                 engine: str | None = None, series: Iterable[Selector] = (),
                 interval: float = 5.0, timeout: float = 2.0,
                 clock: Callable[[], float] = time.time,
                 elapsed: Callable[[], float] = lambda: 0.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.url = url
        self.emit = emit
        self.reader = EngineReader(engine, series, interval)
        self.interval = float(interval)
        self.timeout = float(timeout)
        self.clock = clock
        self.elapsed = elapsed
        self.sleep = sleep
        self.scrapes = 0
        self.failures = 0  # consecutive
        self._last_failure: str | None = None
        self._announced = False
        self._said_unknown: set[Selector] = set()
        self._http: aiohttp.ClientSession | None = None

    # --- one scrape ----------------------------------------------------------------------

    async def fetch(self) -> str:
        """The page's text; raises ScrapeError saying what went wrong."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"Accept": "text/plain;version=0.0.4"})
        try:
            async with asyncio.timeout(self.timeout):
                async with self._http.get(self.url, allow_redirects=False) as response:
                    if response.status != 200:
                        raise ScrapeError("http", f"HTTP {response.status} "
                                                  f"{response.reason or ''}".strip())
                    body = await response.content.read(MAX_PAGE_BYTES + 1)
        except TimeoutError as exc:
            raise ScrapeError("timeout", f"no answer within {self.timeout:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror \
                else str(exc)
            raise ScrapeError("unreachable", f"cannot connect ({reason})") from exc
        except aiohttp.ClientError as exc:
            raise ScrapeError("unreachable", f"{type(exc).__name__}: "
                                             f"{' '.join(str(exc).split())[:120]}") from exc
        if len(body) > MAX_PAGE_BYTES:
            raise ScrapeError("too_large", f"a page over {MAX_PAGE_BYTES // 2**20} MiB")
        return body.decode("utf-8", errors="replace")

    async def scrape(self) -> list[Datapoint]:
        """Fetch, parse and read one page; emit its datapoints (errors propagate)."""
        text = await self.fetch()
        at = self.clock()
        self.scrapes += 1
        try:
            snapshot = await asyncio.to_thread(parse_exposition, text)
        except ExpositionError as exc:
            raise ScrapeError("not_prometheus", str(exc)) from exc
        points = self.reader.read(snapshot, at)
        self._announce(snapshot)
        for selector in self.reader.unknown:
            if selector not in self._said_unknown:  # said once per run
                self._said_unknown.add(selector)
                self._event("engine_series_unknown",
                            f"engine metrics: no series {selector} at {shown_url(self.url)}"
                            + _closest(str(selector.name), snapshot), series=str(selector))
        for point in points:
            self.emit(point)
        return points

    def _announce(self, snapshot: Snapshot) -> None:
        if self._announced:
            return
        self._announced = True
        engine = self.reader.engine
        name = ENGINE_NAMES.get(engine or "", "an unknown engine")
        if engine is not None and not self.reader.found_roles:
            seen = snapshot.engine()
            looks = f"; its series look like {ENGINE_NAMES[seen]}'s" if seen and \
                seen != engine else ""
            self._event("engine_series_unknown",
                        f"engine metrics: none of {name}'s series at {shown_url(self.url)}"
                        f"{looks} (engine: {engine} in the profile)", engine=engine,
                        looks_like=seen)
            return
        self._event("engine_found",
                    f"engine metrics: {name} at {shown_url(self.url)}, every {self.interval:g} s"
                    + ("" if engine else " (only the series named in the profile)"),
                    engine=engine, url=shown_url(self.url), series=len(snapshot.samples))

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Scrape until cancelled; a failed scrape becomes an event, never an exception."""
        self._event("engine_scraping", f"engine metrics: scraping {shown_url(self.url)} every "
                                       f"{self.interval:g} s", url=shown_url(self.url),
                    namespace=ENGINE)
        while True:
            await self.scrape_once()
            await self.sleep(self.interval)

    async def scrape_once(self) -> bool:
        """One scrape whose failure is reported, not raised; True if it worked."""
        try:
            await self.scrape()
        except ScrapeError as exc:
            self._failed(exc)
            return False
        if self.failures:
            self._event("engine_scrape_recovered",
                        f"engine metrics: {shown_url(self.url)} answers again")
        self.failures = 0
        self._last_failure = None
        return True

    def _failed(self, exc: ScrapeError) -> None:
        self.failures += 1
        message = str(exc)
        if message != self._last_failure:
            self._event("engine_scrape_failed",
                        f"engine metrics: {shown_url(self.url)}: {message}; the run goes on, "
                        f"retrying every {self.interval:g} s", kind=exc.kind, error=message)
        self._last_failure = message

    def _event(self, name: str, message: str, **data: Any) -> None:
        self.emit(Event(t=self.clock(), elapsed=self.elapsed(), source=SOURCE, name=name,
                        message=message, data=data))

    async def close(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()


def _closest(name: str, snapshot: Snapshot) -> str:
    import difflib

    bases = sorted({n.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum")
                    .removesuffix("_count") for n in snapshot.names()})
    hint = difflib.get_close_matches(name, bases, n=1, cutoff=0.6)
    return f" (did you mean {hint[0]}?)" if hint else ""


class SessionLike(Protocol):
    """What ``attach_engine`` uses of a ``driver.session.Session``."""

    def emit(self, record: Record) -> None: ...
    def elapsed(self) -> float: ...
    def add_producer(self, producer: Callable[[Any], Awaitable[None]]) -> None: ...
    def add_cleanup(self, cleanup: Callable[[Any], Awaitable[None]]) -> None: ...


def attach_engine(session: SessionLike, url: str, *, engine: str | None = None,
                  series: Iterable[Selector] = (), interval: float = 5.0,
                  timeout: float = 2.0) -> EngineScraper:
    """Scrape ``url`` for the whole session, once more after the load stops (the last
    interval's figures), and close the connection at the end."""
    scraper = EngineScraper(url, session.emit, engine=engine, series=series, interval=interval,
                            timeout=timeout, elapsed=session.elapsed)

    async def scrape(_: Any) -> None:
        await scraper.run()

    async def last_scrape(_: Any) -> None:
        try:
            with contextlib.suppress(Exception):
                await scraper.scrape_once()
        finally:
            await scraper.close()

    session.add_producer(scrape)
    session.add_cleanup(last_scrape)
    return scraper

"""What the worker's HTTP/1.1 client (``driver.http.client``) sends and gets: a request encoded once
(``Wire``, ``encode``), a response (``Response``, its headers decoded only when looked at),
and the errors, named as aiohttp names the same failures (``HttpError``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from multidict import CIMultiDict
from yarl import URL


class HttpError(Exception):
    def __init__(self, kind: str, code: str, message: str, retried: bool = False) -> None:
        super().__init__(message)
        self.kind, self.code, self.message, self.retried = kind, code, message, retried


class _Headers(Mapping[str, str]):
    """Response headers, decoded on first look: only error responses are looked into."""

    __slots__ = ("_decoded", "_raw")

    def __init__(self, raw: dict[bytes, bytes]) -> None:
        self._raw = raw
        self._decoded: CIMultiDict[str] | None = None

    def _all(self) -> CIMultiDict[str]:
        if self._decoded is None:
            self._decoded = CIMultiDict(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw.items())
        return self._decoded

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._raw)


class Response:
    __slots__ = ("body", "headers", "retried", "status")

    def __init__(self, status: int, raw_headers: dict[bytes, bytes], body: bytes,
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

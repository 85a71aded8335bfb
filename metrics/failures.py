"""What failed, by name: status codes and error codes with counts, and the one reason.

A table that says ``4xx 1485, err % 100.00`` hides what a user needs first: *which* status. These
functions read a snapshot of ``metrics.stats.Aggregate`` (or a footer's summary row) and name
it. When (nearly) every request fails for the same reason, ``one_reason`` says so in a sentence
with a hint, e.g. "every request got HTTP 404 — is the path right? the profile posts to /x".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from metrics.nested import first_match
from metrics.records import TIMEOUT, Event

# "Nearly everything": the share of requests one reason must cover to be named as *the* reason.
ONE_REASON_SHARE = 0.95
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

_STATUS_HINTS = {
    400: "does the endpoint accept this payload and content type?",
    401: "are the credentials or the authorization header right?",
    403: "are the credentials or the authorization header right?",
    404: "is the path right?",
    405: "does the endpoint accept this method at this path?",
    413: "is the payload too large for the endpoint?",
    415: "is the content type right?",
    424: "the model failed on this payload: see the container's logs",
    429: "the endpoint throttles: lower the rate or raise its limits",
    502: "the proxy cannot reach the server behind it: is the server up?",
    503: "the endpoint is unavailable or overloaded",
    504: "the proxy timed out waiting for the server behind it",
}


def failed_statuses(snapshot: dict[str, Any]) -> list[tuple[str, int]]:
    """HTTP status codes that are not 2xx, most frequent first."""
    status = snapshot.get("status") or {}
    found = [(code, n) for code, n in status.items() if n and not str(code).startswith("2")]
    return sorted(found, key=lambda item: (-item[1], item[0]))


def error_codes(snapshot: dict[str, Any]) -> list[tuple[str, int]]:
    """Error codes (AWS codes, exception names, Timeout), most frequent first."""
    codes = snapshot.get("error_codes") or {}
    return sorted(((str(k), n) for k, n in codes.items() if n),
                  key=lambda item: (-item[1], item[0]))


# The server's own words beside a count: the first body of each status or error code, as the
# worker's first error event for it carried it (trimmed there, redacted by the session).
MESSAGE_CHARS = 160
_TAGS = re.compile(r"<[^>]*>?")


def first_messages(events: Iterable[Any]) -> dict[str, str]:
    """The first non-empty message of each error code and of each HTTP status ("HTTP 404"),
    from the target's ``error`` events, on one line and at most ``MESSAGE_CHARS`` long."""
    found: dict[str, str] = {}
    for event in events:
        if not (isinstance(event, Event) and event.source == "target"
                and event.name == "error"):
            continue
        code = str(event.data.get("code") or "")
        text = event.message
        if code and text.startswith(f"{code}: "):
            text = text[len(code) + 2:]
        elif text == code:
            continue  # no body: the event says only the code
        if text.lstrip().startswith("<"):  # an HTML error page: its words, not its tags
            text = _TAGS.sub(" ", text)
        text = " ".join(text.split())
        if not text:
            continue
        if len(text) > MESSAGE_CHARS:
            text = text[:MESSAGE_CHARS - 1] + "…"
        status = event.data.get("status")
        for key in (code, f"HTTP {status}" if status else ""):
            if key:
                found.setdefault(key, text)
    return found


def _listing(items: list[tuple[str, int]], limit: int,
             messages: dict[str, str] | None = None) -> str:
    said = messages or {}
    shown = ", ".join(f"{name} ×{count:,}" + (f" (“{said[key]}”)" if key in said else "")
                      for (name, count), key in zip(items[:limit], _keys(items[:limit]),
                                                    strict=True))
    if len(items) > limit:
        shown += f", {len(items) - limit} more"
    return shown


def _keys(items: list[tuple[str, int]]) -> list[str]:
    """The ``first_messages`` key of each listed status (a bare number) or error code."""
    return [f"HTTP {name}" if name.isdigit() else name for name, _count in items]


def describe(snapshot: dict[str, Any], limit: int = 6,
             messages: dict[str, str] | None = None) -> list[str]:
    """Lines naming what failed: HTTP statuses, error codes, requests not sent; [] if nothing.
    ``messages`` (``first_messages``): the server's first words for each, shown beside it;
    a status shows its own only when no error code says the same thing."""
    lines = []
    statuses = failed_statuses(snapshot)
    codes = error_codes(snapshot)
    said = dict(messages or {})
    for code, _count in codes:  # said once, beside the error code, not twice
        for key in [k for k in said if k.startswith("HTTP ") and said[k] == said.get(code)]:
            del said[key]
    if statuses:
        lines.append(f"failed HTTP status: {_listing(statuses, limit, said)}")
    if codes:
        lines.append(f"error codes: {_listing(codes, limit, said)}")
    if snapshot.get("not_sent"):
        lines.append(f"not sent (in-flight cap): {snapshot['not_sent']:,}")
    return lines


def request_description(profile: dict[str, Any] | None) -> str | None:
    """"posts to /path" for the first request a profile sends (Artillery-shaped), if any."""
    found = _first_request(profile or {})
    if found is None:
        return None
    method, url = found
    return f"{method}s to {url}" if method != "get" else f"gets {url}"


def _first_request(data: Any) -> tuple[str, str] | None:
    def pick(d: dict[str, Any]) -> tuple[str, str] | None:
        for method in HTTP_METHODS:
            spec = d.get(method)
            if isinstance(spec, dict) and isinstance(spec.get("url"), str):
                return method, spec["url"]
        return None

    return first_match(data, pick)


@dataclass(frozen=True, slots=True)
class Reason:
    """The one reason (nearly) every request failed, and the sentence that says so."""

    key: str  # "HTTP 404", an error code, "Timeout" or "not sent": what stays the same
    count: int
    attempted: int
    sentence: str


def one_reason(snapshot: dict[str, Any], request: str | None = None,
               messages: dict[str, str] | None = None) -> str | None:
    """A sentence when (nearly) every request failed for one reason, else None; with the
    server's first words for that reason (``first_messages``) when it gave any: its own
    words beat our guess ("is the path right?" for vLLM's "model does not exist")."""
    reason = main_reason(snapshot, request)
    if reason is None:
        return None
    said = (messages or {}).get(reason.key)
    return reason.sentence + (f"; the server said: “{said}”" if said else "")


def main_reason(snapshot: dict[str, Any], request: str | None = None) -> Reason | None:
    """The reason at least ``ONE_REASON_SHARE`` of the failures share, when that many failed.

    ``request`` is what ``request_description`` says of the profile, used in the hint for the
    statuses that usually mean a wrong request (404, 405).
    """
    outcomes = snapshot.get("outcomes") or {}
    not_sent = int(snapshot.get("not_sent") or 0)
    attempted = sum(outcomes.values()) + not_sent
    if not attempted:
        return None
    failed = attempted - int(outcomes.get("ok", 0))
    if failed < ONE_REASON_SHARE * attempted:
        return None
    statuses = failed_statuses(snapshot)
    codes = error_codes(snapshot)
    share = ONE_REASON_SHARE * failed
    if statuses and statuses[0][1] >= share:
        status, count = statuses[0]
        key = f"HTTP {status}"
        code = f" ({codes[0][0]})" if codes and codes[0][1] >= share else ""
        what = f"got {key}{code}"
        hint = _status_hint(int(status) if status.isdigit() else 0, request)
    elif codes and codes[0][1] >= share:
        key, count = codes[0]
        if key == "Timeout" or outcomes.get(TIMEOUT, 0) >= share:
            what, hint = "timed out", "the endpoint does not answer within the timeout"
        else:
            what = f"failed with {key}"
            hint = ("is the server up and listening at the target?"
                    if outcomes.get("conn_error", 0) >= share else "")
    elif not_sent >= share:
        key, count = "not sent", not_sent
        what = "was not sent"
        hint = "the in-flight cap was reached: the endpoint answers too slowly for this rate"
    else:
        return None
    who = "every request" if count == attempted else \
        f"{100.0 * count / attempted:.1f} % of requests"
    sentence = f"{who} {what}" + (f" — {hint}" if hint else "")
    return Reason(key, count, attempted, sentence)


def _status_hint(status: int, request: str | None) -> str:
    hint = _STATUS_HINTS.get(status)
    if hint is None:
        hint = ("the server fails on every request: see its logs" if 500 <= status < 600
                else "")
    if request and status in (404, 405):
        hint = f"{hint} the profile {request}"
    return hint

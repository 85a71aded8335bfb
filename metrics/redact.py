"""Secrets out of records and terminal lines, by value, never by editing encoded text.

A secret is a string (an ``$env`` value, a literal credential header, AWS keys). Only string
*values* are redacted: keys and numbers are left alone, so a secret that happens to equal a
field name (``type``) or to occur in a number (``1795``) cannot break a recording's JSON or
corrupt its figures. A value that contains a secret has every occurrence replaced; the
URL-encoded forms are secrets too (a query-string token reaches error messages encoded).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from metrics.records import Tick
from metrics.validate import histogram_fields

REDACTED = "<redacted>"
# A marker must not itself contain a secret; the empty string contains none.
_MARKERS = (REDACTED, "[hidden]", "")
# Shorter strings would redact ordinary words and digits everywhere; no credential is this short.
MIN_SECRET_LENGTH = 4
_MAX_PASSES = 4

# Header (and query) names whose values are credentials whatever the exact name.
_SECRET_NAME = re.compile(
    r"auth|token|secret|passw|pwd|api[-_]?key|(^|[-_])key($|[-_])|subscription|session|"
    r"signature|cookie|credential|private|bearer|jwt",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether a header or field name looks like it carries a credential."""
    return bool(_SECRET_NAME.search(str(name)))


class Redactor:
    """Replaces secrets in string values; ``bool(redactor)`` is False when there are none."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                continue
            forms.update({secret, quote(secret, safe=""), quote_plus(secret), quote(secret)})
        self.secrets = sorted(forms, key=len, reverse=True)  # longest first: redacted whole
        self._pattern = re.compile("|".join(map(re.escape, self.secrets))) if forms else None
        self.marker = next(m for m in _MARKERS if not any(s in m for s in self.secrets))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        """``value`` with every secret replaced; never returns a string holding one."""
        if self._pattern is None:
            return value
        for _ in range(_MAX_PASSES):
            if self._pattern.search(value) is None:
                return value
            value = self._pattern.sub(self.marker, value)
        # A secret re-formed across a marker's edge, pass after pass: give up on the value.
        return value if self._pattern.search(value) is None else self.marker

    def data(self, value: Any) -> Any:
        """Plain data (dicts, lists, scalars) with string values redacted; keys are kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def record(self, record: Any) -> Any:
        """A dataclass record with its string values redacted (the same object if none held)."""
        if self._pattern is None:
            return record
        changes = {}
        # A histogram's base64 text cannot carry a secret, but a short secret can occur in it.
        skip = histogram_fields() if isinstance(record, Tick) else frozenset()
        for f in dataclasses.fields(record):
            if f.name in skip:
                continue
            value = getattr(record, f.name)
            if isinstance(value, str | dict | list):
                clean = self.data(value)
                if clean != value:
                    changes[f.name] = clean
        return dataclasses.replace(record, **changes) if changes else record

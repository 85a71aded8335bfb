"""Recordings: a session as JSON Lines, written line by line so a killed run still replays.

Line 1 is a Header, then records in the order they were produced, then (if the run ended
cleanly) a Footer. The format is documented in docs/recording-format.md.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from metrics.records import (
    FORMAT_VERSION,
    Footer,
    Header,
    Record,
    to_dict,
)
from metrics.redact import REDACTED as REDACTED
from metrics.redact import Redactor
from metrics.validate import record_from_data


class RecordingError(Exception):
    """A file that is not a loadwatch recording, or one this version cannot read."""


class RecordingWriter:
    """Appends records to a JSON Lines file, one flushed line each.

    Every string in ``secrets`` is replaced by ``<redacted>`` in each record's string values
    before it is encoded, whatever record carries it (an error message echoing a header, say).
    Keys and numbers are never touched, so every line stays valid JSON.
    """

    def __init__(self, path: str | Path, header: Header, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redactor = Redactor(secrets)
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self.lines = 0
        self.closed_with_footer = False
        self.write(header)

    def write(self, record: Record) -> None:
        if self._file is None:
            return
        line = json.dumps(to_dict(self._redactor.record(record)), separators=(",", ":"),
                          ensure_ascii=False)
        self._file.write(line + "\n")
        self._file.flush()
        self.lines += 1

    def close(self, footer: Footer | None = None) -> None:
        """Write the footer (if any) and close; safe to call twice."""
        if self._file is None:
            return
        if footer is not None:
            self.write(footer)
            self.closed_with_footer = True
        with contextlib.suppress(OSError):
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Recording:
    """A recording read back: header, records in order, footer if the run ended cleanly."""

    path: Path
    header: Header
    records: list[Record] = field(default_factory=list)
    footer: Footer | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.footer is not None


def _upgrade(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Bring a record from an older format version up to FORMAT_VERSION (none yet)."""
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _parse(raw: bytes) -> Any:
    """One line's JSON; ValueError says why it is not usable (never a RecursionError)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start + 1})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deep") from None
    except ValueError as exc:
        raise ValueError(f"not JSON ({str(exc).split(':')[0]})") from None


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes, bool]]:
    """(number, line without its newline, is_last) for each line of a binary file."""
    number, previous = 0, None
    for raw in handle:
        if previous is not None:
            yield number, previous, False
        number += 1
        previous = raw.rstrip(b"\r\n")
    if previous is not None:
        yield number, previous, True


def iter_records(
    path: str | Path, warnings: list[str] | None = None
) -> Iterator[Record]:
    """Yield the records of a recording, header first.

    The file is read line by line as bytes. A line that is not UTF-8, not JSON, or not a
    valid record (wrong types, NaN, deep nesting: see ``metrics.validate``) is skipped with a
    warning naming its line; a truncated last line (a run killed mid-write) says so. Only a
    first line that is not a loadwatch header raises RecordingError.
    """
    path = Path(path)
    if warnings is None:
        warnings = []
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise RecordingError(f"{path}: cannot open: {exc.strerror}") from exc
    version = FORMAT_VERSION
    empty = True
    with handle:
        for number, raw, is_last in _lines(handle):
            empty = False
            if number == 1:
                version = _read_header_line(path, raw)
            if not raw.strip():
                continue
            try:
                data = _parse(raw)
                if isinstance(data, dict) and version < FORMAT_VERSION:
                    data = _upgrade(data, version)
                record = record_from_data(data)
            except ValueError as exc:
                if number == 1:
                    raise RecordingError(f"{path}: line 1: {exc}") from None
                if is_last and not raw.endswith(b"}"):
                    warnings.append(f"{path}:{number}: last line is truncated (the run was cut "
                                    "short); it was skipped")
                else:
                    warnings.append(f"{path}:{number}: corrupt line skipped: {exc}")
                continue
            if number == 1 and not isinstance(record, Header):
                raise RecordingError(f"{path}: line 1 is not a loadwatch header")
            if number > 1 and isinstance(record, Header):
                warnings.append(f"{path}:{number}: line skipped: a second header")
                continue
            yield record
    if empty:
        raise RecordingError(f"{path}: empty file, not a loadwatch recording")


def _read_header_line(path: Path, raw: bytes) -> int:
    """The format version line 1 declares; RecordingError if it is not a loadwatch header."""
    try:
        data = _parse(raw)
    except ValueError as exc:
        raise RecordingError(f"{path}: line 1 is {str(exc).split(' (')[0]}: not a loadwatch "
                             "recording") from None
    if not isinstance(data, dict) or data.get("type") != "header":
        raise RecordingError(f"{path}: line 1 is not a loadwatch header")
    version = data.get("format")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordingError(f"{path}: header has no format version")
    if version > FORMAT_VERSION:
        raise RecordingError(
            f"{path}: recording format {version} is newer than this loadwatch reads "
            f"(up to {FORMAT_VERSION}); upgrade loadwatch to read it"
        )
    return version


def read_recording(path: str | Path) -> Recording:
    warnings: list[str] = []
    records = iter_records(path, warnings)
    header = next(records)
    if not isinstance(header, Header):
        raise RecordingError(f"{path}: line 1 is not a loadwatch header")
    recording = Recording(path=Path(path), header=header, warnings=warnings)
    for record in records:
        if isinstance(record, Footer):
            recording.footer = record
        else:
            recording.records.append(record)
    if recording.footer is None:
        warnings.append(f"{path}: no footer: the run did not finish cleanly (killed or crashed);"
                        " figures cover what was recorded")
    return recording

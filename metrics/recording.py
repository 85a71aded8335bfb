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
    record_from_dict,
    to_dict,
)

REDACTED = "<redacted>"


class RecordingError(Exception):
    """A file that is not a loadwatch recording, or one this version cannot read."""


class RecordingWriter:
    """Appends records to a JSON Lines file, one flushed line each.

    Every string in ``secrets`` is replaced by ``<redacted>`` in each line before it reaches
    the disk, whatever record carries it (an error message echoing a header, say).
    """

    def __init__(self, path: str | Path, header: Header, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Longest first, so a secret that contains another is redacted whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self.lines = 0
        self.closed_with_footer = False
        self.write(header)

    def write(self, record: Record) -> None:
        if self._file is None:
            return
        line = json.dumps(to_dict(record), separators=(",", ":"), ensure_ascii=False)
        for secret in self._secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
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


def iter_records(
    path: str | Path, warnings: list[str] | None = None
) -> Iterator[Record]:
    """Yield the records of a recording, header first.

    A truncated or corrupt *last* line (a run killed mid-write) is skipped with a warning;
    a corrupt line anywhere else is skipped with a warning naming its line number.
    """
    path = Path(path)
    if warnings is None:
        warnings = []
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise RecordingError(f"{path}: cannot open: {exc.strerror}") from exc
    with handle:
        lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise RecordingError(f"{path}: empty file, not a loadwatch recording")
    version = FORMAT_VERSION
    for number, line in enumerate(lines, start=1):
        is_last = number == len(lines)
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            if number == 1:
                raise RecordingError(
                    f"{path}: line 1 is not JSON: not a loadwatch recording") from None
            if is_last:
                warnings.append(f"{path}:{number}: last line is truncated (the run was cut "
                                "short); it was skipped")
            else:
                warnings.append(f"{path}:{number}: corrupt line skipped")
            continue
        if number == 1:
            if data.get("type") != "header":
                raise RecordingError(f"{path}: line 1 is not a loadwatch header")
            version = data.get("format")
            if not isinstance(version, int):
                raise RecordingError(f"{path}: header has no format version")
            if version > FORMAT_VERSION:
                raise RecordingError(
                    f"{path}: recording format {version} is newer than this loadwatch reads "
                    f"(up to {FORMAT_VERSION}); upgrade loadwatch to read it"
                )
        if version < FORMAT_VERSION:
            data = _upgrade(data, version)
        try:
            yield record_from_dict(data)
        except (TypeError, ValueError) as exc:
            warnings.append(f"{path}:{number}: record skipped ({exc})")


def read_recording(path: str | Path) -> Recording:
    warnings: list[str] = []
    records = iter_records(path, warnings)
    header = next(records)
    assert isinstance(header, Header)
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

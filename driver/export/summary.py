"""``--summary-json FILE``: one JSON document a CI job reads after ``run`` or ``find-capacity``.

Versioned like the recording (``version``: a reader refuses a newer major one) and described
by ``SUMMARY_SCHEMA`` (JSON Schema 2020-12), which ``docs/export.md`` renders as a table and a
test checks a real run's file against. The figures are the footer's (per phase and total), the
ensure results, the exit code, whether the load generator limited the run, what it cost, and
for ``find-capacity`` the answer and its steps. Written to a temporary file and renamed, so a
reader never sees half of one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metrics.records import Footer, Header, Record

SUMMARY_VERSION = 1
SCHEMA_ID = "loadwatch-summary"

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_PERCENTILES = {
    "type": "object",
    "properties": {k: _NUMBER_OR_NULL for k in ("min", "p50", "p90", "p95", "p99", "max")},
    "required": ["p50", "p99"],
}
_FIGURES = {
    "type": "object",
    "required": ["seconds", "target_rps", "achieved_rps", "ok_rps", "requests", "completed",
                 "ok", "outcomes", "error_rate", "late", "not_sent", "latency_ms",
                 "failed_latency_ms"],
    "properties": {
        "seconds": {"type": "integer", "minimum": 0},
        "target_rps": {"type": "number"},
        "achieved_rps": {"type": "number"},
        "ok_rps": {"type": "number"},
        "requests": {"type": "integer", "minimum": 0},
        "completed": {"type": "integer", "minimum": 0},
        "ok": {"type": "integer", "minimum": 0},
        "outcomes": {"type": "object", "additionalProperties": {"type": "integer"}},
        "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "late": {"type": "integer", "minimum": 0},
        "not_sent": {"type": "integer", "minimum": 0},
        "status": {"type": "object", "additionalProperties": {"type": "integer"}},
        "latency_ms": _PERCENTILES,
        "service_ms": _PERCENTILES,
        "failed_latency_ms": _PERCENTILES,
        "lag_ms": _PERCENTILES,
    },
}
SUMMARY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "loadwatch run summary",
    "type": "object",
    "required": ["schema", "version", "tool_version", "command", "target", "started_at",
                 "reason", "exit_code", "phases", "total", "ensure", "ensure_passed",
                 "client", "cost", "capacity"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "version": {"type": "integer", "minimum": 1},
        "tool_version": {"type": "string"},
        "command": {"enum": ["run", "find-capacity"]},
        "profile": {"type": ["string", "null"]},
        "target": {"type": "string"},
        "started_at": {"type": "string"},
        "finished_at": {"type": "string"},
        "duration_s": {"type": "number"},
        "reason": {"enum": ["completed", "killed", "interrupted", "incomplete", "error"]},
        "exit_code": {"type": "integer"},
        "recording": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "phases": {"type": "array", "items": {
            "allOf": [_FIGURES, {"type": "object", "required": ["index", "name"],
                                 "properties": {"index": {"type": "integer"},
                                                "name": {"type": ["string", "null"]}}}]}},
        "total": _FIGURES,
        "llm": {"type": ["object", "null"]},
        "ensure": {"type": "array", "items": {
            "type": "object", "required": ["name", "limit", "actual", "ok", "unit"],
            "properties": {"name": {"type": "string"}, "limit": {"type": "number"},
                           "actual": _NUMBER_OR_NULL, "ok": {"type": "boolean"},
                           "unit": {"type": "string"}}}},
        "ensure_passed": {"type": "boolean"},
        "client": {"type": "object", "required": ["limited", "message", "late_pct",
                                                  "not_sent_pct", "cpu_max"],
                   "properties": {"limited": {"type": "boolean"},
                                  "message": {"type": ["string", "null"]},
                                  "advice": {"type": ["string", "null"]},
                                  "late_pct": {"type": "number"},
                                  "not_sent_pct": {"type": "number"},
                                  "cpu_max": {"type": "object",
                                              "additionalProperties": {"type": "number"}}}},
        "cost": {"type": ["object", "null"],
                 "required": ["usd", "usd_per_hour_now", "usd_per_million_ok", "prices"],
                 "properties": {"usd": {"type": "number"},
                                "usd_per_hour_now": _NUMBER_OR_NULL,
                                "usd_per_million_ok": _NUMBER_OR_NULL,
                                "usd_per_million_output_tokens": _NUMBER_OR_NULL,
                                "prices": {"type": "object"}}},
        "capacity": {"type": ["object", "null"],
                     "required": ["found", "answer", "steps"],
                     "properties": {"found": {"type": "boolean"},
                                    "answer": {"type": ["object", "null"]},
                                    "steps": {"type": "array"},
                                    "error": {"type": ["string", "null"]}}},
    },
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def build_summary(command: str, *, tool_version: str, profile: str | None, target: str,
                  epoch0: float, elapsed: float, reason: str, exit_code: int,
                  summary: Mapping[str, Any], ensure: list[dict[str, Any]],
                  recording: str | None = None, error: str | None = None,
                  capacity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document: ``summary`` is the footer's (``SessionResult.summary``)."""
    return {
        "schema": SCHEMA_ID,
        "version": SUMMARY_VERSION,
        "tool_version": tool_version,
        "command": command,
        "profile": profile,
        "target": target,
        "started_at": _iso(epoch0),
        "finished_at": _iso(epoch0 + elapsed),
        "duration_s": round(elapsed, 3),
        "reason": reason,
        "exit_code": exit_code,
        "recording": recording,
        "error": error,
        "phases": list(summary.get("phases", [])),
        "total": summary.get("total", {}),
        "llm": summary.get("llm"),
        "ensure": ensure,
        "ensure_passed": all(check["ok"] for check in ensure),
        "client": summary.get("client", {}),
        "cost": summary.get("cost"),
        "capacity": capacity,
    }


def capacity_part(answer: dict[str, Any] | None, steps: list[dict[str, Any]],
                  error: str | None) -> dict[str, Any]:
    """``find-capacity``'s answer (None: no rate passed) and every step it ran."""
    return {"found": answer is not None, "answer": answer, "steps": steps, "error": error}


def check_summary_path(path: Path) -> str | None:
    """Why ``path`` cannot take the summary (said before any load), or None."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return f"--summary-json {path}: is a directory"
    if not parent.is_dir():
        return f"--summary-json {path}: no directory {parent}"
    if not os.access(parent, os.W_OK):
        return f"--summary-json {path}: directory {parent} is not writable"
    return None


def write_summary(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` whole (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2, default=_plain) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class SummaryWriter:
    """A session consumer that keeps the header and footer and writes the summary from them:
    at the footer (``run``), or when ``finish`` is called (``find-capacity``, whose exit code
    and answer come after the session)."""

    def __init__(self, path: Path, command: str = "run", *, recording: Path | None = None,
                 at_footer: bool = True) -> None:
        self.path = path
        self.recording = None if recording is None else str(recording)
        self.command = command
        self.at_footer = at_footer
        self.header: Header | None = None
        self.footer: Footer | None = None
        self.written = False

    def __call__(self, record: Record) -> None:
        if isinstance(record, Header):
            self.header = record
        elif isinstance(record, Footer):
            self.footer = record
            if self.at_footer:
                self.finish()

    def finish(self, exit_code: int | None = None,
               capacity: dict[str, Any] | None = None) -> bool:
        """Write the file (False: the session never got to its footer)."""
        header, footer = self.header, self.footer
        if header is None or footer is None:
            return False
        write_summary(self.path, build_summary(
            self.command, tool_version=header.tool_version, profile=header.profile_path,
            target=header.target, epoch0=header.t, elapsed=footer.elapsed,
            reason=footer.reason,
            exit_code=footer.exit_code if exit_code is None else exit_code,
            summary=footer.summary, ensure=footer.ensure,
            recording=self.recording, capacity=capacity))
        self.written = True
        return True

"""``loadwatch export FILE --csv [-o DIR]``: a recording's series as CSV for pandas or a sheet.

Writes ``<name>-client.csv`` (one row per elapsed second), ``<name>-server.csv`` (one row per
CloudWatch period, a column per metric and statistic), ``<name>-endpoint.csv`` (instance counts
as they changed) and ``<name>-events.csv`` (events and scaling activities). Every column name
carries its unit: ``_per_s`` counts in that second, ``_ms`` milliseconds, ``_s`` seconds.
``interrupted_per_s``: requests in flight when the operator stopped the run (not errors).
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

from metrics import hdr
from metrics.llm import LLM_COLUMNS, is_streaming, llm_cells
from metrics.recording import Recording
from metrics.records import (
    CONN_ERROR,
    HTTP_4XX,
    HTTP_5XX,
    OK,
    OTHER,
    THROTTLED,
    TIMEOUT,
    Datapoint,
    EndpointState,
    Event,
    ScalingActivity,
    Tick,
)
from tui.report.inputs import EXIT_BAD_INPUT, InputError, read

CLIENT_COLUMNS = [
    "second", "elapsed_s", "utc", "phase", "in_schedule", "target_rps", "sent_per_s",
    "completed_per_s", "ok_per_s", "http_4xx_per_s", "http_5xx_per_s", "throttled_per_s",
    "timeout_per_s", "conn_error_per_s", "other_error_per_s", "not_sent_per_s", "late_per_s",
    "in_flight", "latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
    "latency_max_ms", "service_p50_ms", "service_p99_ms", "send_lag_p99_ms",
    "latency_out_of_range", "failed_latency_p50_ms", "failed_latency_p99_ms",
    "interrupted_per_s",
]
EVENT_COLUMNS = ["elapsed_s", "utc", "source", "name", "message"]
ENDPOINT_COLUMNS = ["elapsed_s", "utc", "status", "instances_current", "instances_desired",
                    "copies_current", "copies_desired"]  # copies: an inference component's


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "export", help="write a recording's series as CSV files",
        description="Write per-second client series, per-period server series, instance "
                    "counts and events as CSV; column names carry their units.")
    parser.add_argument("recording", type=Path, metavar="FILE")
    parser.add_argument("--csv", action="store_true", required=True,
                        help="CSV files (the one format so far)")
    parser.add_argument("-o", "--out", type=Path, metavar="DIR", default=Path("."),
                        help="folder to write into (default: the current folder)")
    parser.set_defaults(handler=cmd_export)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _round(value: float | None, digits: int = 3) -> float | str:
    """Empty for no value (no request completed that second), else rounded to the µs."""
    return "" if value is None else round(value, digits)


def client_rows(recording: Recording) -> list[list[object]]:
    """One row per recorded second, straight from each tick's counters and histograms."""
    rows = []
    streaming = streamed(recording)
    for tick in recording.records:
        if not isinstance(tick, Tick):
            continue
        latency = _percentiles_ms(tick.latency, (50, 90, 95, 99))
        service = _percentiles_ms(tick.service, (50, 99))
        lag = _percentiles_ms(tick.lag, (99,))
        failed = _percentiles_ms(tick.failed_latency, (50, 99))
        outcomes = tick.outcomes
        rows.append([
            tick.second, round(tick.elapsed, 3), _utc(tick.t), tick.phase or "",
            int(tick.in_schedule), round(tick.target_rps, 3), tick.sent, tick.completed,
            outcomes.get(OK, 0), outcomes.get(HTTP_4XX, 0), outcomes.get(HTTP_5XX, 0),
            outcomes.get(THROTTLED, 0), outcomes.get(TIMEOUT, 0), outcomes.get(CONN_ERROR, 0),
            outcomes.get(OTHER, 0), tick.not_sent, tick.late, tick.in_flight,
            _round(latency.get(50)), _round(latency.get(90)), _round(latency.get(95)),
            _round(latency.get(99)), _round(latency.get("max")), _round(service.get(50)),
            _round(service.get(99)), _round(lag.get(99)), tick.out_of_range,
            _round(failed.get(50)), _round(failed.get(99)), tick.interrupted,
        ])
        if streaming:
            rows[-1] += llm_cells(tick)
    return rows


def streamed(recording: Recording) -> bool:
    """A streaming LLM run: the client file gets the LLM columns (metrics.llm.LLM_COLUMNS)."""
    return any(isinstance(r, Tick) and is_streaming(r) for r in recording.records)


def _percentiles_ms(encoded: str, percentiles: tuple[float, ...]) -> dict[float | str, float]:
    """The percentiles and max of one encoded histogram, in ms; {} when it is empty."""
    histogram = hdr.decode(encoded)
    if not histogram.get_total_count():
        return {}
    values: dict[float | str, float] = {
        p: v / 1000.0 for p, v in zip(percentiles, hdr.percentiles_us(histogram, percentiles),
                                      strict=True)}
    values["max"] = histogram.get_max_value() / 1000.0
    return values


def server_table(recording: Recording) -> tuple[list[str], list[list[object]]]:
    """A row per period (its start and its length), a column per metric and statistic (its
    unit in the name). A 60 s and a 10 s period that start together are two rows: one row
    would have given its ``period_s`` to values of the other."""
    header = recording.header
    values: dict[tuple[float, int], dict[str, float]] = {}
    columns: list[str] = []
    for point in recording.records:
        if not isinstance(point, Datapoint):
            continue
        name = "_".join(p for p in (point.metric, point.stat, _unit(point.unit)) if p)
        if name not in columns:
            columns.append(name)
        # A revision replaces the value of its own period.
        values.setdefault((point.t, point.period), {})[name] = point.value
    head = ["elapsed_s", "utc", "period_s", *columns]
    rows = [[round(t - header.t, 3), _utc(t), period,
             *(values[t, period].get(c, "") for c in columns)]
            for t, period in sorted(values)]
    return head, rows


def _unit(unit: str) -> str:
    """Column-name form of a CloudWatch unit after conversion (Milliseconds → ms)."""
    known = {"milliseconds": "ms", "ms": "ms", "percent": "percent", "count": "count",
             "seconds": "s", "microseconds": "us", "none": ""}
    return known.get(unit.lower(), unit.lower().replace(" ", "_").replace("/", "_per_"))


def endpoint_rows(recording: Recording) -> list[list[object]]:
    header = recording.header
    rows = []
    for state in recording.records:
        if isinstance(state, EndpointState):
            current, desired = state.instance_counts()
            copies, copies_desired = state.copy_counts()
            rows.append([round(state.elapsed, 3), _utc(header.t + state.elapsed), state.status,
                         current or 0, desired or 0,
                         "" if copies is None else copies,
                         "" if copies_desired is None else copies_desired])
    return rows


def event_rows(recording: Recording) -> list[list[object]]:
    header = recording.header
    rows: list[list[object]] = []
    for record in recording.records:
        if isinstance(record, Event):
            rows.append([round(record.elapsed, 3), _utc(record.t), record.source, record.name,
                         record.message])
        elif isinstance(record, ScalingActivity):
            text = " — ".join(p for p in (record.description, record.cause,
                                          record.status_message) if p)
            rows.append([round(record.t - header.t, 3), _utc(record.t), "scaling activity",
                         record.status, text])
    return rows


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: object) -> object:
    """A text cell a spreadsheet will not evaluate: a leading quote, as OWASP advises.
    Numbers are left alone (a negative number is a number, not a formula)."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def _write(path: Path, head: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([_inert(c) for c in head])
        writer.writerows([_inert(c) for c in row] for row in rows)


def cmd_export(args: argparse.Namespace) -> int:
    try:
        recording = read(args.recording)
    except InputError as exc:
        print(f"loadwatch export: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in recording.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    out: Path = args.out
    stem = args.recording.stem
    server_head, server = server_table(recording)
    files = [
        ("client", CLIENT_COLUMNS + (LLM_COLUMNS if streamed(recording) else []),
         client_rows(recording), "seconds"),
        ("server", server_head, server, "periods"),
        ("endpoint", ENDPOINT_COLUMNS, endpoint_rows(recording), "states"),
        ("events", EVENT_COLUMNS, event_rows(recording), "events"),
    ]
    try:
        out.mkdir(parents=True, exist_ok=True)
        for kind, head, rows, what in files:
            if not rows and kind in ("server", "endpoint"):
                print(f"{kind}: nothing recorded (no {what}), no file written")
                continue
            path = out / f"{stem}-{kind}.csv"
            _write(path, head, rows)
            print(f"{kind}: {path} ({len(rows)} {what})")
    except OSError as exc:
        print(f"loadwatch export: cannot write into {out}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0

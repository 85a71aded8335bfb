"""The headless printer: status lines while a session runs, a summary table at its end.

It is one more consumer of the record stream, for CI logs and long runs in a terminal that
nobody watches.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any, TextIO

from driver.session import EXIT_NOTHING_OK, SessionResult
from metrics import failures
from metrics.cost import cost_line
from metrics.llm import LlmAggregate
from metrics.records import (
    ERROR_OUTCOMES,
    HTTP_4XX,
    HTTP_5XX,
    OK,
    Datapoint,
    EndpointState,
    Event,
    Footer,
    Header,
    Record,
    ScalingActivity,
    Tick,
    concurrency_profile,
    concurrency_target,
)
from metrics.stats import Aggregate
from metrics.timeline import clock

STATUS_HEADER = (
    f"{'elapsed':>8}  {'phase':<14} {'target/s':>9} {'sent/s':>8} {'ok':>7} {'4xx':>6} "
    f"{'5xx':>6} {'other':>6} {'p50 ok':>8} {'p95 ok':>8} {'p99 ok':>8} {'p99 fail':>8} "
    f"{'in flight':>9}"
)
# load.mode concurrency: the target is requests kept in flight, not a rate (issue 25).
CONCURRENCY_HEADER = STATUS_HEADER.replace(f"{'target/s':>9}", f"{'tgt infl':>9}")
CONCURRENCY_NOTE = "tgt infl: requests to keep in flight; in flight: the window's mean"
# Events worth a line of their own in a log.
_SHOWN_EVENTS = {"phase_started", "rate_set", "schedule", "paused", "resumed", "killed",
                 "interrupted", "marker", "stopped", "error", "worker_lost", "worker_replaced",
                 "load_source",
                 "incomplete", "totals_mismatch", "cleanup_failed",
                 "scaling_enabled", "scaling_disabled", "scaling_restored", "warning",
                 "copies_changed", "cold_start"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if value < 100 else f"{value:.0f}"


class HeadlessPrinter:
    """Prints a status line every ``interval`` seconds of ticks, and notable events."""

    def __init__(self, out: TextIO | None = None, interval: int = 5) -> None:
        self.out = out or sys.stdout
        self.interval = max(1, interval)
        self._window = Aggregate()
        self._llm_window = LlmAggregate()  # streaming LLM targets: tokens, TTFT, goodput
        self._window_phase: str | None = None
        self._lines = 0
        self._server: dict[str, float] = {}
        self._instances: str | None = None
        self._concurrency = False  # the header said load.mode concurrency
        self._in_flight = 0.0  # the window's ticks' mean in flight, summed
        self.cold_starts: list[Event] = []  # an inference component's, printed at the end

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, record: Record) -> None:
        if isinstance(record, Header):
            self._concurrency = concurrency_target(record)
        elif isinstance(record, Tick):
            self._window.add(record)
            self._in_flight += record.in_flight
            self._llm_window.add(record)
            self._window_phase = record.phase
            if self._window.ticks >= self.interval:
                self._status(record.second + 1)
        elif isinstance(record, Event):
            if record.name == "cold_start":
                self.cold_starts.append(record)
            if record.name in _SHOWN_EVENTS or record.source in ("target", "scaling",
                                                                 "capacity", "engine"):
                self._print(f"{clock(record.elapsed):>8}  · {record.message or record.name}")
        elif isinstance(record, Datapoint):
            self._server[f"{record.metric}:{record.stat}"] = record.value
        elif isinstance(record, EndpointState):
            counts = [f"{v.get('current')}/{v.get('desired')}" for v in record.variants]
            instances = f"{record.status} instances {', '.join(counts)}"
            if instances != self._instances:
                self._instances = instances
                self._print(f"{clock(record.elapsed):>8}  · endpoint {instances}")
        elif isinstance(record, ScalingActivity):
            self._print(f"{'':>8}  · scaling {record.status}: {record.description}")
        elif isinstance(record, Footer) and self._window.ticks:
            self._status(int(record.elapsed))
        if isinstance(record, Footer):
            for line in cold_start_lines(self.cold_starts):
                self._print(line)

    def _status(self, elapsed: float) -> None:
        snap = self._window.snapshot()
        if self._lines % 20 == 0:
            self._print(CONCURRENCY_HEADER if self._concurrency else STATUS_HEADER)
            if self._concurrency and not self._lines:
                self._print(CONCURRENCY_NOTE)
        self._lines += 1
        in_flight = self._in_flight / max(self._window.ticks, 1)
        outcomes = snap["outcomes"]
        other = sum(outcomes[k] for k in ERROR_OUTCOMES if k not in (HTTP_4XX, HTTP_5XX))
        other += snap["not_sent"]
        latency = snap["latency_ms"]
        line = (
            f"{clock(elapsed):>8}  {(self._window_phase or '')[:14]:<14} "
            f"{snap['target_rps']:>9.1f} {snap['achieved_rps']:>8.1f} {outcomes[OK]:>7} "
            f"{outcomes[HTTP_4XX]:>6} {outcomes[HTTP_5XX]:>6} {other:>6} "
            f"{_ms(latency['p50']):>8} {_ms(latency['p95']):>8} {_ms(latency['p99']):>8} "
            f"{_ms(snap['failed_latency_ms']['p99']):>8} {in_flight:>9.1f}"
        )
        model = self._server.get("ModelLatency:Average")
        if model is not None:
            line += f"  model {model:.1f} ms"
        self._print(line)
        if self._llm_window.streaming:
            self._print(f"{'':>8}  {llm_status(self._llm_window.snapshot())}")
        self._window.release()
        self._window = Aggregate()
        self._in_flight = 0.0
        self._llm_window.release()
        self._llm_window = LlmAggregate()


# --- streaming LLM targets (issue 14) --------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def llm_status(snap: dict[str, Any]) -> str:
    """The LLM half of a status line: tokens/s, TTFT, TPOT, goodput over the window."""
    ttft, tpot = snap["ttft_ms"], snap["tpot_ms"]
    errors = sum(snap["stream_errors"].values())
    return (f"llm: {snap['output_tokens_per_s']:.0f} tok/s out, TTFT p50 {_ms(ttft['p50'])} "
            f"p99 {_ms(ttft['p99'])} ms, TPOT p50 {_ms(tpot['p50'])} ms, goodput "
            f"{_pct(snap['goodput_pct'])}" + (f", stream errors {errors}" if errors else ""))


def llm_summary_lines(llm: dict[str, Any], note: bool = True,
                      width: int | None = None) -> list[str]:
    """The end-of-run LLM tables: one row per phase and a total row (p50 and p99, ms), then
    (with ``note``: the end of a run, not compare) the whole run as ``vllm bench serve`` prints
    it (mean, median, p99, from the actual send), so the two read side by side line by line.
    ``width``: the terminal's; a narrower one gets the table in blocks of column groups."""
    rows = [row for row in [*llm.get("phases", []), {"name": "total", **llm.get("total", {})}]
            if "output_tokens" in row]
    lines = table_lines(rows, _LLM_COLUMNS, width)
    total = llm.get("total", {})
    if note:
        lines += _wrapped(["ms; TTFT from the intended send (coordinated omission corrected); "
                           "'sent' TTFT and E2E: from the actual send, as vllm bench serve "
                           "reports them"], width)
    if note and "output_tokens" in total:
        lines += ["", *bench_serve_lines(total)]
    prose: list[str] = []
    if total.get("output_tokens_estimated"):
        prose.append(f"output tokens counted from chunks (the stream gave no usage): "
                     f"{total['output_tokens_estimated']} of {total['output_tokens']}")
    if total.get("stream_errors"):
        prose.append("stream errors: " + ", ".join(
            f"{k} {v}" for k, v in total["stream_errors"].items()))
    if total.get("interrupted"):
        n = total["interrupted"]
        prose.append(f"{n} stream{'s' if n != 1 else ''} cut by the interrupt (not errors: "
                     "outside the error rate and goodput)")
    return [*lines, *_wrapped(prose, width)]


# The whole run in `vllm bench serve`'s words and order (its metric names, from the actual send).
_BENCH_ROWS = (("TTFT", "ttft_sent_ms"), ("TPOT", "tpot_ms"), ("ITL", "itl_ms"),
               ("E2EL", "e2e_ms"), ("TTFT from intended send", "ttft_ms"))


def bench_serve_lines(total: dict[str, Any]) -> list[str]:
    """The total as ``vllm bench serve`` prints it: throughputs, then each latency's mean,
    median and p99 in ms (TTFT from the intended send last: vLLM has no such figure)."""
    seconds = total["output_tokens"] / total["output_tokens_per_s"] if \
        total.get("output_tokens_per_s") else 0.0
    both = total["output_tokens"] + total["input_tokens"]
    lines = [f"{'whole run, as vllm bench serve':<32} {'mean':>9} {'median':>9} {'p99':>9}",
             f"{'Successful requests':<32} {total.get('ok', 0):>9}",
             f"{'Request throughput (req/s)':<32} {_rate(total.get('requests_per_s')):>9}",
             f"{'Output token throughput (tok/s)':<32} {total['output_tokens_per_s']:>9.1f}",
             f"{'Total token throughput (tok/s)':<32} "
             f"{(both / seconds if seconds else 0.0):>9.1f}"]
    for name, key in _BENCH_ROWS:
        figures = total.get(key) or {}
        lines.append(f"{name + ' (ms)':<32} " + " ".join(
            f"{'-' if v is None else f'{v:.2f}':>9}"
            for v in (figures.get("mean"), figures.get("p50"), figures.get("p99"))))
    return lines


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def scaling_line(outcome: Event | None, recording: Any = None) -> str | None:
    """What became of the scaling configuration, in one line: restored (to what), kept, or
    not restored and the command that restores it; None if the run changed nothing."""
    if outcome is None:
        return None
    source = str(recording) if recording else "RECORDING"
    text = outcome.message.replace("RECORDING", source)
    if outcome.name == "scaling_failed":
        return (f"scaling NOT restored: {text}; to restore it: loadwatch scaling restore "
                f"--from {source}")
    if outcome.name == "scaling_kept":
        return f"scaling kept as the run left it: {text}"
    if text.startswith("scaling restore incomplete"):
        return f"{text}; to finish: loadwatch scaling restore --from {source}"
    return text if text.startswith("scaling") else f"scaling restored: {text}"


def cold_start_lines(events: list[Event]) -> list[str]:
    """The run's cold starts (inference components from zero copies), one line each."""
    if not events:
        return []
    seconds = [e.data.get("seconds") for e in events if e.data.get("seconds") is not None]
    worst = f"; longest {max(seconds):.0f} s" if seconds else ""
    return [f"cold starts: {len(events)}{worst}",
            *(f"  {e.message}" for e in events)]


def print_result(result: SessionResult, interrupted: str,
                 profile: dict[str, Any] | None = None,
                 scaling: Event | None = None) -> None:
    """The end of a run on the terminal: the summary table, what failed, what became of the
    scaling configuration (``scaling``: the session's ``scaling_outcome``), the recording.

    ``profile`` (the sanitised profile) lets the last line say what request a failing run
    sent, as in "every request got HTTP 404 — is the path right? the profile posts to /x".
    """
    print()
    width = terminal_width()
    lines = summary_lines(result.summary, result.checks, failures.request_description(profile),
                          width, result.messages, concurrency=concurrency_profile(profile))
    for line in lines:
        print(line)
    if result.error:
        print(f"loadwatch: {result.error}", file=sys.stderr)
    line = scaling_line(scaling, result.recording)
    if line:
        print("\n".join(_wrapped([line], width)))
    if result.recording:
        print(f"recording: {result.recording}")
    if result.reason == "interrupted":
        print(interrupted, file=sys.stderr)
    if result.exit_code == EXIT_NOTHING_OK:
        attempted = result.summary["total"]["requests"] + result.summary["total"]["not_sent"]
        print(f"loadwatch: not one of {attempted:,} requests succeeded: exit code "
              f"{EXIT_NOTHING_OK}, whatever ensure says", file=sys.stderr)


# The per-phase table's columns, in three groups that stand alone when the terminal is too
# narrow for all of them: (group, title, width, cell of a row).
_PHASE_COLUMNS: list[tuple[str, str, int, Callable[[dict[str, Any]], str]]] = [
    ("rate", "secs", 6, lambda r: f"{r['seconds']}"),
    ("rate", "target/s", 9, lambda r: f"{r['target_rps']:.1f}"),
    ("rate", "sent/s", 8, lambda r: f"{r['achieved_rps']:.1f}"),
    ("rate", "ok/s", 8, lambda r: f"{_ok_rps(r):.1f}"),
    ("rate", "requests", 9, lambda r: f"{r['requests']}"),
    ("outcome", "ok", 9, lambda r: f"{r['outcomes'].get(OK, 0)}"),
    ("outcome", "4xx", 7, lambda r: f"{r['outcomes'].get(HTTP_4XX, 0)}"),
    ("outcome", "5xx", 7, lambda r: f"{r['outcomes'].get(HTTP_5XX, 0)}"),
    ("outcome", "other", 7, lambda r: f"{_other(r)}"),
    ("outcome", "err %", 6, lambda r: f"{100 * r['error_rate']:.2f}"),
    ("latency", "p50 ok", 7, lambda r: _ms(r["latency_ms"]["p50"])),
    ("latency", "p95 ok", 7, lambda r: _ms(r["latency_ms"]["p95"])),
    ("latency", "p99 ok", 7, lambda r: _ms(r["latency_ms"]["p99"])),
    ("latency", "max ok", 7, lambda r: _ms(r["latency_ms"]["max"])),
    ("latency", "p50 fail", 8, lambda r: _ms((r.get("failed_latency_ms") or {}).get("p50"))),
    ("latency", "p99 fail", 8, lambda r: _ms((r.get("failed_latency_ms") or {}).get("p99"))),
]
_PHASE_WIDTH = 16


def _p(key: str, q: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: _ms((r.get(key) or {}).get(q))


# The LLM table's columns, grouped as they are read: volume, first token, each token after it,
# the whole stream.
_LLM_COLUMNS: list[tuple[str, str, int, Callable[[dict[str, Any]], str]]] = [
    ("volume", "tok in", 8, lambda r: f"{r['input_tokens']}"),
    ("volume", "tok out", 8, lambda r: f"{r['output_tokens']}"),
    ("volume", "out tok/s", 9, lambda r: f"{r['output_tokens_per_s']:.1f}"),
    ("volume", "req/s", 6, lambda r: _rate(r.get("requests_per_s"))),
    ("first", "TTFT p50", 8, _p("ttft_ms", "p50")),
    ("first", "p99", 7, _p("ttft_ms", "p99")),
    ("first", "sent p50", 8, _p("ttft_sent_ms", "p50")),
    ("first", "p99", 7, _p("ttft_sent_ms", "p99")),
    ("token", "TPOT p50", 8, _p("tpot_ms", "p50")),
    ("token", "p99", 6, _p("tpot_ms", "p99")),
    ("token", "ITL p50", 7, _p("itl_ms", "p50")),
    ("token", "p99", 6, _p("itl_ms", "p99")),
    ("stream", "E2E p50", 7, _p("e2e_ms", "p50")),
    ("stream", "p99", 7, _p("e2e_ms", "p99")),
    ("stream", "goodput", 7, lambda r: _pct(r["goodput_pct"])),
]


def _ok_rps(row: dict[str, Any]) -> float:
    return row.get("ok_rps", row["outcomes"].get(OK, 0) / max(row["seconds"], 1))


def _other(row: dict[str, Any]) -> int:
    outcomes = row["outcomes"]
    return (sum(outcomes.get(k, 0) for k in ERROR_OUTCOMES if k not in (HTTP_4XX, HTTP_5XX))
            + row.get("not_sent", 0))


Column = tuple[str, str, int, Callable[[dict[str, Any]], str]]


def _column_blocks(columns: list[Column], width: int | None) -> list[list[int]]:
    """The columns (indexes into ``columns``) of each block of a table: one block when it fits
    in ``width`` (None: any width), else whole groups packed into blocks."""
    groups: list[list[int]] = []
    for i, (group, *_rest) in enumerate(columns):
        if not groups or columns[groups[-1][0]][0] != group:
            groups.append([])
        groups[-1].append(i)
    blocks: list[list[int]] = []
    for group in groups:
        wanted = [*blocks[-1], *group] if blocks else group
        if blocks and (width is None or _PHASE_WIDTH + sum(
                columns[i][2] + 1 for i in wanted) <= width):
            blocks[-1] = wanted
        else:
            blocks.append(list(group))
    return blocks


def table_lines(rows: list[dict[str, Any]], columns: list[Column],
                width: int | None = None) -> list[str]:
    """A table of one row per phase: one block if it fits in ``width``, else a block per group
    of columns, each with the phase names again."""
    lines: list[str] = []
    for block in _column_blocks(columns, width):
        head = f"{'phase':<{_PHASE_WIDTH}}" + "".join(
            f" {columns[i][1]:>{columns[i][2]}}" for i in block)
        if lines:
            lines.append("")
        lines += [head, "-" * len(head)]
        for row in rows:
            lines.append(f"{str(row.get('name') or '')[:_PHASE_WIDTH]:<{_PHASE_WIDTH}}" + "".join(
                f" {columns[i][3](row):>{columns[i][2]}}" for i in block))
    return lines


def phase_table_lines(rows: list[dict[str, Any]], width: int | None = None,
                      concurrency: bool = False) -> list[str]:
    """The per-phase table: rates, outcomes and latency, in blocks on a narrow terminal.
    ``concurrency``: the target is requests in flight, not a rate (its column says so)."""
    columns = _PHASE_COLUMNS if not concurrency else [
        (group, "tgt infl" if title == "target/s" else title, size, cell)
        for group, title, size, cell in _PHASE_COLUMNS]
    return table_lines(rows, columns, width)


def summary_lines(summary: dict[str, Any], checks: list[Any] | None = None,
                  request: str | None = None, width: int | None = None,
                  messages: dict[str, str] | None = None,
                  concurrency: bool = False) -> list[str]:
    """The end-of-run table: one row per phase and a total row, what failed, ensure results.

    Latency columns are of successful requests; the failed requests' p50/p99 have their own.
    ``width``: the terminal's; a narrower one gets the table in blocks and the prose wrapped.
    ``messages``: the server's first words per status and error code, beside their counts.
    ``concurrency``: the run's target was requests in flight (``tgt infl``, not ``target/s``).
    """
    rows = [row for row in [*summary.get("phases", []),
                            {"name": "total", **summary.get("total", {})}]
            if row.get("seconds")]
    table = phase_table_lines(rows, width, concurrency)
    notes = ["latency in ms from each request's intended send time (coordinated omission "
             "corrected); 'ok' columns: successful requests only, 'fail': the others"]
    # Phases only (the total's columns do add up), less what the stop cut (not an outcome).
    if len(rows) > 2 and any(row["requests"] - row.get("interrupted", 0)
                             != sum(row["outcomes"].values()) for row in rows[:-1]):
        notes.append("a phase's ok/4xx/5xx/other count the requests that ended in it, its "
                     "'requests' those sent in it: a request sent near a phase's end often "
                     "ends in the next, so a phase's columns need not add up to its requests "
                     "(over the whole run they match, but for requests interrupted or not sent)")
    total = summary.get("total", {})
    notes += failures.describe(total, messages=messages)
    if total.get("interrupted") and not (summary.get("llm") or {}).get("total"):
        n = total["interrupted"]
        notes.append(f"interrupted: {n:,} request{'s' if n != 1 else ''} in flight when the "
                     "run was stopped (not errors: outside err % and the columns above)")
    if total.get("late"):
        late_ms = (summary.get("client") or {}).get("late_ms")
        notes.append(f"late sends: {total['late']:,}" + (
            f" (sent over {late_ms:g} ms after their intended time; latency counts from it)"
            if late_ms is not None else ""))
    llm = ["", *llm_summary_lines(summary["llm"], width=width)] if summary.get("llm") else []
    after = [*client_lines(summary.get("client"))]
    if (cost := cost_line(summary.get("cost"))) is not None:
        after.append(cost)
    after += [f"ensure {check.describe()}" for check in checks or []]
    verdict = failures.one_reason(total, request, messages)
    if verdict:
        after.append(verdict)
    return [*table, *_wrapped(notes, width), *llm, *_wrapped(after, width)]


def _wrapped(lines: list[str], width: int | None) -> list[str]:
    if width is None:
        return lines
    return [part for line in lines
            for part in (textwrap.wrap(line, width, subsequent_indent="  ") or [""])]


def terminal_width(stream: TextIO | None = None) -> int | None:
    """The width of the terminal ``stream`` (stdout) writes to; None if it is not one."""
    stream = stream or sys.stdout
    try:
        return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else None
    except (OSError, ValueError, AttributeError):
        return None


# --- the load generator's own load, and what the run cost (issue 23) ----------------------------


def client_lines(client: dict[str, Any] | None) -> list[str]:
    """``limited by the load generator: …; add workers`` when it was, else nothing."""
    if not client or not client.get("limited"):
        return []
    return [str(client["message"])]

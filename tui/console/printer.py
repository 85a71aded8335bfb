"""The headless printer: status lines while a session runs, a summary table at its end.

It is one more consumer of the record stream, for CI logs and long runs in a terminal that
nobody watches.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from driver.session import SessionResult
from metrics import failures
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
    Record,
    ScalingActivity,
    Tick,
)
from metrics.stats import Aggregate
from metrics.timeline import clock

STATUS_HEADER = (
    f"{'elapsed':>8}  {'phase':<14} {'target/s':>9} {'sent/s':>8} {'ok':>7} {'4xx':>6} "
    f"{'5xx':>6} {'other':>6} {'p50 ok':>8} {'p95 ok':>8} {'p99 ok':>8} {'p99 fail':>8}"
)
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
        self.cold_starts: list[Event] = []  # an inference component's, printed at the end

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, record: Record) -> None:
        if isinstance(record, Tick):
            self._window.add(record)
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
            self._print(STATUS_HEADER)
        self._lines += 1
        outcomes = snap["outcomes"]
        other = sum(outcomes[k] for k in ERROR_OUTCOMES if k not in (HTTP_4XX, HTTP_5XX))
        other += snap["not_sent"]
        latency = snap["latency_ms"]
        line = (
            f"{clock(elapsed):>8}  {(self._window_phase or '')[:14]:<14} "
            f"{snap['target_rps']:>9.1f} {snap['achieved_rps']:>8.1f} {outcomes[OK]:>7} "
            f"{outcomes[HTTP_4XX]:>6} {outcomes[HTTP_5XX]:>6} {other:>6} "
            f"{_ms(latency['p50']):>8} {_ms(latency['p95']):>8} {_ms(latency['p99']):>8} "
            f"{_ms(snap['failed_latency_ms']['p99']):>8}"
        )
        model = self._server.get("ModelLatency:Average")
        if model is not None:
            line += f"  model {model:.1f} ms"
        self._print(line)
        if self._llm_window.streaming:
            self._print(f"{'':>8}  {llm_status(self._llm_window.snapshot())}")
        self._window.release()
        self._window = Aggregate()
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


def llm_summary_lines(llm: dict[str, Any], note: bool = True) -> list[str]:
    """The end-of-run LLM table: one row per phase and a total row."""
    head = (f"{'phase':<16} {'tokens in':>10} {'tokens out':>10} {'out tok/s':>9} "
            f"{'TTFT p50':>8} {'p99':>7} {'sent p50':>8} {'p99':>7} {'TPOT p50':>8} "
            f"{'ITL p99':>7} {'goodput':>7}")
    lines = [head, "-" * len(head)]
    for row in [*llm.get("phases", []), {"name": "total", **llm.get("total", {})}]:
        if "output_tokens" not in row:
            continue
        ttft, sent = row["ttft_ms"], row["ttft_sent_ms"]
        lines.append(
            f"{str(row.get('name') or '')[:16]:<16} {row['input_tokens']:>10} "
            f"{row['output_tokens']:>10} {row['output_tokens_per_s']:>9.1f} "
            f"{_ms(ttft['p50']):>8} {_ms(ttft['p99']):>7} {_ms(sent['p50']):>8} "
            f"{_ms(sent['p99']):>7} {_ms(row['tpot_ms']['p50']):>8} "
            f"{_ms(row['itl_ms']['p99']):>7} {_pct(row['goodput_pct']):>7}")
    total = llm.get("total", {})
    if note:
        lines.append("TTFT in ms from the intended send (coordinated omission corrected); "
                      "'sent': from the actual send, as vLLM bench serve and LLMPerf report it")
    if total.get("output_tokens_estimated"):
        lines.append(f"output tokens counted from chunks (the stream gave no usage): "
                     f"{total['output_tokens_estimated']} of {total['output_tokens']}")
    if total.get("stream_errors"):
        lines.append("stream errors: " + ", ".join(
            f"{k} {v}" for k, v in total["stream_errors"].items()))
    if total.get("interrupted"):
        n = total["interrupted"]
        lines.append(f"{n} stream{'s' if n != 1 else ''} cut by the interrupt (not errors: "
                     "outside the error rate and goodput)")
    return lines


def cold_start_lines(events: list[Event]) -> list[str]:
    """The run's cold starts (inference components from zero copies), one line each."""
    if not events:
        return []
    seconds = [e.data.get("seconds") for e in events if e.data.get("seconds") is not None]
    worst = f"; longest {max(seconds):.0f} s" if seconds else ""
    return [f"cold starts: {len(events)}{worst}",
            *(f"  {e.message}" for e in events)]


def print_result(result: SessionResult, interrupted: str,
                 profile: dict[str, Any] | None = None) -> None:
    """The end of a run on the terminal: the summary table, what failed, the recording.

    ``profile`` (the sanitised profile) lets the last line say what request a failing run
    sent, as in "every request got HTTP 404 — is the path right? the profile posts to /x".
    """
    print()
    for line in summary_lines(result.summary, result.checks,
                              failures.request_description(profile)):
        print(line)
    if result.error:
        print(f"loadwatch: {result.error}", file=sys.stderr)
    if result.recording:
        print(f"recording: {result.recording}")
    if result.reason == "interrupted":
        print(interrupted, file=sys.stderr)


def summary_lines(summary: dict[str, Any], checks: list[Any] | None = None,
                  request: str | None = None) -> list[str]:
    """The end-of-run table: one row per phase and a total row, what failed, ensure results.

    Latency columns are of successful requests; the failed requests' p50/p99 have their own.
    """
    head = (f"{'phase':<16} {'secs':>6} {'target/s':>9} {'sent/s':>8} {'ok/s':>8} "
            f"{'requests':>9} {'ok':>9} {'4xx':>7} {'5xx':>7} {'other':>7} {'err %':>6} "
            f"{'p50 ok':>7} {'p95 ok':>7} {'p99 ok':>7} {'max ok':>7} {'p50 fail':>8} "
            f"{'p99 fail':>8}")
    lines = [head, "-" * len(head)]
    rows = [*summary.get("phases", []), {"name": "total", **summary.get("total", {})}]
    for row in rows:
        if not row.get("seconds"):
            continue
        outcomes = row["outcomes"]
        other = sum(outcomes.get(k, 0) for k in ERROR_OUTCOMES if k not in (HTTP_4XX, HTTP_5XX))
        other += row.get("not_sent", 0)
        latency = row["latency_ms"]
        failed = row.get("failed_latency_ms") or {}
        ok_rps = row.get("ok_rps", outcomes.get(OK, 0) / max(row["seconds"], 1))
        lines.append(
            f"{str(row.get('name') or '')[:16]:<16} {row['seconds']:>6} "
            f"{row['target_rps']:>9.1f} {row['achieved_rps']:>8.1f} {ok_rps:>8.1f} "
            f"{row['requests']:>9} {outcomes.get(OK, 0):>9} {outcomes.get(HTTP_4XX, 0):>7} "
            f"{outcomes.get(HTTP_5XX, 0):>7} {other:>7} {100 * row['error_rate']:>6.2f} "
            f"{_ms(latency['p50']):>7} {_ms(latency['p95']):>7} {_ms(latency['p99']):>7} "
            f"{_ms(latency['max']):>7} {_ms(failed.get('p50')):>8} {_ms(failed.get('p99')):>8}"
        )
    lines.append("latency in ms from each request's intended send time (coordinated omission "
                 "corrected); 'ok' columns: successful requests only, 'fail': the others")
    total = summary.get("total", {})
    lines += failures.describe(total)
    if total.get("late"):
        lines.append(f"late sends: {total['late']}")
    if summary.get("llm"):
        lines += ["", *llm_summary_lines(summary["llm"])]
    for check in checks or []:
        lines.append(f"ensure {check.describe()}")
    verdict = failures.one_reason(total, request)
    if verdict:
        lines.append(verdict)
    return lines

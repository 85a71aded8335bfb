"""The session runner: wires producers (workers, schedule, operator, pollers) to consumers.

One ``Session`` per run. It starts the workers through a ``WorkerPool`` (local processes by
default), hands them one shared start time, merges their per-second ticks (``TickMerger``),
emits schedule and operator events, runs extra producers (the CloudWatch and endpoint
pollers), and passes every record to every subscriber (the recorder, the TUI, the headless
printer). Live control is a handful of methods; each becomes a command and an event.

The session composes two parts and hands each the values it uses: its recording's header
(``driver.session.header.session_header``) and, once the workers have started, the watch over
their messages (``driver.session.workers.WorkerWatch``: ticks, totals, lost workers and their
replacements), which calls back to emit records and to end the run incomplete.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driver.pool import (
    KILL_DEADLINE_S,
    LocalProcessPool,
    SetControls,
    Start,
    TickMerger,
    WorkerConfig,
    WorkerPool,
    describe_source,
)
from driver.profile import Profile
from driver.schedule import Control, RateFunction
from driver.session.header import session_header
from driver.session.workers import WorkerWatch, worker_config
from metrics import ensure as ensure_checks
from metrics import failures
from metrics.client_load import ClientLoad
from metrics.cost import CostMeter
from metrics.llm import LlmSummaryBuilder
from metrics.recording import RecordingWriter
from metrics.records import OK, Event, Footer, Header, Record, Tick
from metrics.redact import Redactor
from metrics.stats import SummaryBuilder

Consumer = Callable[[Record], None]
Producer = Callable[["Session"], Awaitable[None]]
Cleanup = Callable[["Session"], Awaitable[None]]

EXIT_OK = 0
EXIT_ENSURE_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # a lost worker's share could not be taken over
EXIT_NOTHING_OK = 4  # requests were sent and not one succeeded, whatever ``ensure`` says
EXIT_INTERRUPTED = 130
# Workers get this long past the schedule's end (plus the request timeout) to report done.
END_SLACK_S = 5.0



def nothing_succeeded(total: dict[str, Any]) -> bool:
    """Requests were attempted (sent or due and not sent) and not one of them succeeded."""
    attempted = sum(total["outcomes"].values()) + total.get("not_sent", 0)
    return attempted > 0 and total["outcomes"].get(OK, 0) == 0


@dataclass
class SessionResult:
    reason: str  # completed | killed | interrupted | incomplete | error
    exit_code: int
    summary: dict[str, Any]
    checks: list[ensure_checks.Check]
    recording: Path | None
    error: str | None = None
    # The server's first words for each error code and status (``failures.first_messages``).
    messages: dict[str, str] = field(default_factory=dict)


class Session:
    def __init__(
        self,
        profile: Profile,
        target: dict[str, Any] | None = None,
        *,
        target_label: str | None = None,
        workers: int | None = None,
        record: str | Path | None = None,
        meta: dict[str, Any] | None = None,
        seed: int = 0,
        extra_secrets: set[str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        wall: Callable[[], float] = time.time,
        pool: WorkerPool | None = None,
    ) -> None:
        self.profile = profile
        self.target = target or {"kind": "http"}
        self.target_label = target_label or profile.target or "(none)"
        self.workers = workers or profile.load.workers
        self.record_path = Path(record) if record else None
        self.meta = meta or {}
        self.seed = seed
        self.secrets = set(profile.secrets) | (extra_secrets or set())
        # Every record is scrubbed here, before any consumer (recorder, terminal, monitor).
        self.redactor = Redactor(self.secrets)
        self.clock = clock
        self.wall = wall
        self.base_rate = RateFunction.from_phases(profile.phases)
        self.controls: list[Control] = []
        self.rate = self.base_rate
        self.t0 = 0.0
        self.epoch0 = 0.0
        self.started = False
        self.finished = asyncio.Event()
        self.reason: str | None = None
        # What became of the scaling configuration at the end (restored, kept, failed to
        # restore): the last such event, for the line the summary prints.
        self.scaling_outcome: Event | None = None
        self.messages: dict[str, str] = {}  # see SessionResult.messages
        self._consumers: list[Consumer] = []
        self._producers: list[Producer] = []
        self._cleanups: list[Cleanup] = []
        self.pool = pool or LocalProcessPool()
        self._merger = TickMerger((), profile.phases)  # workers join when they start
        self._summary = SummaryBuilder()
        self._llm_summary = LlmSummaryBuilder()  # streaming LLM targets (issue 14)
        # Was the client the limit? (all workers' connections: late sends may be waits for one)
        self._client_load = ClientLoad(profile.load.late_ms,
                                       profile.load.connections * self.workers)
        self._cost = CostMeter()  # what the instances cost, from the records it reads
        self._consumers.append(self._cost)
        self._writer: RecordingWriter | None = None
        self._consumer_failures: set[int] = set()
        self._watch: WorkerWatch | None = None  # the workers' messages, once they started

    # --- wiring -------------------------------------------------------------------------

    def subscribe(self, consumer: Consumer) -> None:
        self._consumers.append(consumer)

    def add_producer(self, producer: Producer) -> None:
        """An async callable run for the whole session and cancelled at its end."""
        self._producers.append(producer)

    def add_cleanup(self, cleanup: Cleanup) -> None:
        """Runs after load stops, also on Ctrl-C and on errors (restore scaling, say)."""
        self._cleanups.append(cleanup)

    def emit(self, record: Record) -> None:
        record = self.redactor.record(record)
        if isinstance(record, Event) and record.name == "error" and record.source == "target":
            for key, text in failures.first_messages([record]).items():
                self.messages.setdefault(key, text)
        if self._writer is not None:
            self._writer.write(record)
        self._notify(record)

    def _notify(self, record: Record) -> None:
        for i, consumer in enumerate(self._consumers):
            try:
                consumer(record)
            except Exception as exc:  # a broken view must not stop the load or the recording
                if i not in self._consumer_failures:
                    self._consumer_failures.add(i)
                    print(f"loadwatch: a consumer failed: {exc!r}", file=sys.stderr)

    def event(self, source: str, name: str, message: str = "", *, at: float | None = None,
              **data: Any) -> Event:
        """Emit an event now (or, with ``at``, stamped at that elapsed time)."""
        elapsed = self.elapsed() if at is None else at
        record = Event(self.epoch0 + elapsed if self.started else self.wall(), elapsed, source,
                       name, message, data)
        if source == "scaling" and (name in ("scaling_restored", "scaling_kept") or (
                name == "scaling_failed" and data.get("action") == "restore")):
            self.scaling_outcome = record
        self.emit(record)
        return record

    # --- time and state ------------------------------------------------------------------

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.t0) if self.started else 0.0

    @property
    def duration(self) -> float:
        return self.base_rate.duration

    @property
    def control(self) -> Control:
        return self.controls[-1] if self.controls else Control(0.0)

    def target_rps_now(self) -> float:
        return self.rate.rate_at(self.elapsed())

    # --- live control --------------------------------------------------------------------

    def _apply(self, control: Control, name: str, message: str, **data: Any) -> None:
        if self.reason is not None:
            return
        self.controls.append(control)
        self.rate = self.base_rate.with_controls(self.controls)
        self._merger.rate = self.rate
        self.pool.send(SetControls(tuple(self.controls)))
        self.event("operator", name, message, mode=control.mode, value=control.value,
                   paused=control.paused, **data)

    @property
    def _unit(self) -> str:
        """What a rate is: requests per second, or in concurrency mode requests in flight."""
        return "in flight" if self.profile.load.mode == "concurrency" else "req/s"

    def _at(self) -> float:
        return self.elapsed() + 0.005

    def set_rate(self, rps: float) -> None:
        """Send ``rps`` requests per second from now on, whatever the schedule says."""
        rps = max(0.0, rps)
        self._apply(Control(self._at(), "absolute", rps, self.control.paused), "rate_set",
                    f"rate set to {rps:g} {self._unit}")

    def nudge(self, delta_rps: float) -> None:
        """Raise or lower the rate by ``delta_rps`` from the rate in force (paused or not)."""
        self.set_rate(self.unpaused_rps_now() + delta_rps)

    def unpaused_rps_now(self) -> float:
        """The rate that is (or, while paused, would be) sent now."""
        control = self.control
        if not control.paused:
            return self.target_rps_now()
        resumed = [*self.controls[:-1], Control(control.at, control.mode, control.value, False)]
        return self.base_rate.with_controls(resumed).rate_at(self.elapsed())

    def follow_schedule(self) -> None:
        self._apply(Control(self._at(), "schedule", 1.0, self.control.paused), "schedule",
                    "back to the profile's schedule")

    def pause(self) -> None:
        if not self.control.paused:
            c = self.control
            self._apply(Control(self._at(), c.mode, c.value, True), "paused", "load paused")

    def resume(self) -> None:
        if self.control.paused:
            c = self.control
            self._apply(Control(self._at(), c.mode, c.value, False), "resumed", "load resumed")

    def mark(self, text: str = "", *, at: float | None = None) -> None:
        """Put a marker with ``text`` in the recording, now or at elapsed ``at``."""
        self.event("operator", "marker", text or "marker", at=at)

    def kill(self, reason: str = "killed") -> None:
        """Stop all traffic at once: workers cancel every request in flight."""
        if self.reason == "incomplete":  # already ending; a kill still stops it at once
            self.pool.kill()
        if self.reason is not None:
            return
        self.reason = reason
        self._merger.close_all(math.ceil(self.elapsed()))  # a lost share is due no more
        self.event("operator" if reason == "killed" else "session", reason,
                   "test killed: all traffic stopped" if reason == "killed"
                   else "interrupted: stopping load and finishing the recording")
        self.pool.kill()

    def stop(self) -> None:
        """Stop sending; requests in flight may finish."""
        if self.reason is not None:
            return
        self.reason = "stopped"
        self._merger.close_all(math.ceil(self.elapsed()))
        self.event("operator", "stopped", "load stopped; waiting for requests in flight")
        self.pool.stop()

    def _incomplete(self, worker: int, why: str) -> None:
        """A lost worker's share cannot be taken over: the run stops, exit 3."""
        if self.reason is not None:
            return
        self.reason = "incomplete"
        self._merger.close_all(math.ceil(self.elapsed()))
        self.event("session", "incomplete", f"worker {worker} lost and {why}: stopping the "
                   "run; the recording is incomplete", worker=worker)
        self.pool.stop()

    # --- running -------------------------------------------------------------------------

    def _header(self) -> Header:
        return session_header(self.profile, target=self.target, target_label=self.target_label,
                              workers=self.workers, load_source=self.pool.describe(),
                              meta=self.meta, epoch0=self.epoch0)

    def _worker_config(self, index: int) -> WorkerConfig:
        return worker_config(self.profile, index=index, workers=self.workers,
                             target=self.target, seed=self.seed)

    def _watch_workers(self) -> WorkerWatch:
        return WorkerWatch(
            self.pool, self._merger, worker_config=self._worker_config, t0=self.t0,
            epoch0=self.epoch0, duration=self.duration, elapsed=self.elapsed, emit=self.emit,
            event=self.event, emit_ticks=self._emit_ticks, controls=lambda: self.controls,
            ending=lambda: self.reason is not None, end_incomplete=self._incomplete)

    def _emit_ticks(self, ticks: list[Tick]) -> None:
        for tick in ticks:
            self._summary.add(tick)
            self._llm_summary.add(tick)
            self._client_load.add(tick)
            self.emit(tick)

    async def _announce_phases(self) -> None:
        start = 0.0
        for index, phase in enumerate(self.profile.phases):
            delay = start - self.elapsed()
            if delay > 0:
                await asyncio.sleep(delay)
            rates = "pause" if phase.pause else (
                f"{phase.rate_start:g} {self._unit}" if phase.rate_start == phase.rate_end
                else f"{phase.rate_start:g} → {phase.rate_end:g} {self._unit}")
            # A session whose rate something else steers (find-capacity) says what it does.
            plan = self.meta.get("plan_note") or f"{rates} for {phase.duration:g} s"
            self.event("schedule", "phase_started", at=start, message=
                       f"phase {index + 1}/{len(self.profile.phases)} '{phase.name}': {plan}",
                       index=index, phase=phase.name, duration=phase.duration,
                       rate_start=phase.rate_start, rate_end=phase.rate_end, pause=phase.pause)
            start += phase.duration

    async def run(self) -> SessionResult:
        """Run to the end of the schedule, a kill, or cancellation (Ctrl-C)."""
        tasks: list[asyncio.Task[Any]] = []
        error: str | None = None
        try:
            await self.pool.start([self._worker_config(i) for i in range(self.workers)])
            self._merger = TickMerger(range(self.workers), self.profile.phases,
                                      count=self.workers, rate=self.rate)
            # Elapsed 0 is a moment from now, so every worker has the start command in hand.
            self.t0 = self.clock() + 0.05
            self.epoch0 = self.wall() + 0.05
            self.started = True
            self._merger.epoch0 = self.epoch0
            self._watch = watch = self._watch_workers()
            self._open_recording()
            steered = self.meta.get("steered_by")
            self.event("session", "started",
                       f"load on {self.target_label}: " + (
                           f"rate set by {steered}" if steered else
                           f"{len(self.profile.phases)} phase(s), {self.duration:g} s")
                       + f", {self.workers} worker(s)")
            self.event("session", "load_source", describe_source(self.pool.describe()),
                       **self.pool.describe())
            self.pool.send(Start(self.t0, self.epoch0))
            reader = asyncio.create_task(watch.read_messages())
            tasks.append(asyncio.create_task(self._announce_phases()))
            tasks.extend(asyncio.create_task(p(self)) for p in self._producers)
            if self.pool.tick_deadline is not None:
                tasks.append(asyncio.create_task(watch.release_overdue(self.pool.tick_deadline)))
            await self._wait_for_workers(reader)
        except asyncio.CancelledError:
            if self.started:
                self.kill("interrupted")
                await self.pool.terminate()
                raise
            # Ctrl-C while the workers start: no load was sent; the run still ends the
            # documented way (a recording whose footer says interrupted, exit 130).
            await self.pool.terminate()
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            self.epoch0 = self.wall()
            self._open_recording()
            self.kill("interrupted")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.reason = "error"
            await self.pool.terminate()
        finally:
            if self._watch is not None:
                tasks.extend(self._watch.background)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Every path ends the workers and frees what the pool holds (Ray actors and
            # their placement group); local workers have exited by now.
            await asyncio.shield(self.pool.terminate())
            self._emit_ticks(self._merger.ready(force=True))
            result = await self._finish(error)
        return result

    def _open_recording(self) -> None:
        header = self._header()
        if self.record_path is not None:
            self._writer = RecordingWriter(self.record_path, header, self.secrets)
        self._notify(self.redactor.record(header))

    async def _wait_for_workers(self, reader: asyncio.Task[None]) -> None:
        timeout = self.profile.load.timeout + END_SLACK_S
        while True:
            remaining = self.duration + timeout - self.elapsed()
            if self.reason in ("killed", "interrupted"):
                remaining = KILL_DEADLINE_S
            done, _pending = await asyncio.wait({reader}, timeout=max(remaining, 0.01))
            if done:
                reader.result()
                return
            if self.reason in ("killed", "interrupted") or remaining <= 0.01:
                await self.pool.terminate()
                await asyncio.gather(reader, return_exceptions=True)
                return
            # A kill arrived while waiting: loop to apply the short deadline.

    async def _finish(self, error: str | None) -> SessionResult:
        for cleanup in self._cleanups:
            try:
                await cleanup(self)
            except Exception as exc:
                self.event("session", "cleanup_failed", f"{type(exc).__name__}: {exc}")
        watch = self._watch  # None: the workers never started
        if watch is not None and self._merger.incarnations:
            self.event("driver", "worker_totals", "what each worker reported",
                       workers=[{"worker": r.worker, "first_second": r.first_second,
                                 "sent": r.sent, "completed": r.completed,
                                 "not_sent": r.not_sent, "lost": r.lost,
                                 "done": r is self._merger.current.get(r.worker)
                                 and r.worker in watch.done and not r.lost}
                                for r in self._merger.incarnations])
        summary = self._summary.result()
        if (llm := self._llm_summary.result()) is not None:
            summary["llm"] = llm
        summary["client"] = self._client_load.result()
        summary["cost"] = self._cost.result()
        checks = ensure_checks.evaluate(self.profile.ensure, summary["total"],
                                        summary["client"])
        reason = self.reason if self.reason not in (None, "stopped") else "completed"
        if reason == "stopped":
            reason = "completed"
        if error is not None:
            reason = "error"
        if reason == "interrupted":
            exit_code = EXIT_INTERRUPTED
        elif reason == "incomplete":
            exit_code = EXIT_INCOMPLETE
        elif reason == "error":
            exit_code = EXIT_USAGE
        elif nothing_succeeded(summary["total"]):
            exit_code = EXIT_NOTHING_OK
        else:
            exit_code = EXIT_OK if all(c.ok for c in checks) else EXIT_ENSURE_FAILED
        self.reason = reason
        elapsed = self.elapsed()
        if error:
            error = self.redactor.text(error)
            self.event("session", "error", error)
        footer = Footer(t=self.epoch0 + elapsed if self.started else self.wall(),
                        elapsed=elapsed, reason=reason, summary=summary,
                        ensure=ensure_checks.as_dicts(checks), exit_code=exit_code)
        self.emit(footer)
        if self._writer is not None:
            self._writer.close()
        self.finished.set()
        return SessionResult(reason, exit_code, summary, checks,
                             self.record_path if self._writer else None, error,
                             dict(self.messages))

"""The live monitor: the main screen plus the keys that act on a running test.

The session itself runs as a plain asyncio task owned by ``LiveRun``, not by the UI: if the UI
fails, ``run_monitor`` still stops the load and finishes the recording. Rate keys, pause and
kill go straight to ``Session``, which sends them to every worker and records an operator
event. Scaling calls AWS (or the sandbox) in a worker group so the UI never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Callable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from driver.session import EXIT_INTERRUPTED, PreparedRun, RunOptions, SessionResult
from metrics.records import Header, Record, target_text
from metrics.timeline import clock
from tui.monitor.messages import SessionFinished
from tui.monitor.screens.confirm import ConfirmScreen
from tui.monitor.screens.marker import MarkerScreen
from tui.monitor.screens.monitor import MonitorScreen
from tui.monitor.screens.quit import KEEP, KEEP_INSTANCES, QUIT, RESTORE, QuitScreen
from tui.monitor.widgets import Status

# Actions that need a running session (the keys dim once it is over).
LOAD_ACTIONS = {"nudge", "follow_schedule", "toggle_pause", "kill", "marker", "scaling"}
# The keys that steer the rate or the endpoint: a run that something else drives (the
# capacity search sets every step's rate and needs scaling suspended) does not offer them.
STEERING_ACTIONS = {"nudge", "follow_schedule", "toggle_pause", "scaling"}
# How much nicer than the load workers the monitor runs once they have started (Linux nice).
UI_NICENESS = 10


def yield_cpu_to_workers(increment: int = UI_NICENESS) -> None:
    """Lower this process's priority so that, short of cores, the workers run first.

    Linux nice values belong to threads, so every thread of the process is lowered; worker
    processes started before this keep theirs. Where it is not allowed, nothing changes.
    """
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        with contextlib.suppress(OSError):
            niceness = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, niceness + increment))


def nice_step(value: float) -> float:
    """The 1-2-5 number nearest to ``value`` (at least 1): steps people can add up."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return min((m * power for m in (1, 2, 5, 10)), key=lambda c: abs(math.log(c / value)))


def rate_steps(peak_rps: float) -> tuple[float, float]:
    """Small and large rate steps for a profile: about 5 % and 25 % of its peak rate."""
    return nice_step(peak_rps * 0.05), nice_step(peak_rps * 0.25)


class LiveRun:
    """One live session's lifecycle: started once, finished on every path."""

    def __init__(self, prepared: PreparedRun, options: RunOptions | None = None) -> None:
        self.prepared = prepared
        self.session = prepared.session
        self.options = options or RunOptions()
        self.task: asyncio.Task[SessionResult] | None = None
        self.result: SessionResult | None = None

    def start(self, consumer: Callable[[Record], None],
              on_done: Callable[[SessionResult | None], None] | None = None) -> None:
        """Subscribe ``consumer`` and start the load; ``on_done(result)`` when it ends."""
        self.session.subscribe(consumer)
        self.task = asyncio.ensure_future(self.session.run())
        if on_done is not None:
            self.task.add_done_callback(lambda task: on_done(self._result_of(task)))

    def _result_of(self, task: asyncio.Task[SessionResult]) -> SessionResult | None:
        if task.cancelled() or task.exception() is not None:
            return None
        self.result = task.result()
        return self.result

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done() and self.session.reason is None

    async def finish(self, reason: str = "interrupted") -> SessionResult | None:
        """Stop the load if it still runs (all traffic at once) and wait for the recording."""
        if self.task is None:
            return None
        if not self.task.done():
            if self.session.started:
                self.session.kill(reason)
            else:
                self.task.cancel()
        try:
            self.result = await self.task
        except asyncio.CancelledError:
            return None
        return self.result

    @property
    def exit_code(self) -> int:
        return self.result.exit_code if self.result is not None else EXIT_INTERRUPTED


class LiveScreen(MonitorScreen):
    """The monitor of a running session, with the keys that steer it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,plus", "nudge(1)", "+rate", id="rate-up",
                tooltip="Raise the rate by a small step"),
        Binding("down,minus", "nudge(-1)", "-rate", id="rate-down",
                tooltip="Lower the rate by a small step"),
        Binding("pageup", "nudge(5)", "++rate", id="rate-up-large",
                tooltip="Raise the rate by a large step"),
        Binding("pagedown", "nudge(-5)", "--rate", id="rate-down-large",
                tooltip="Lower the rate by a large step"),
        Binding("s", "follow_schedule", "Schedule", id="schedule",
                tooltip="Drop manual rate changes: back to the profile's schedule"),
        Binding("p,space", "toggle_pause", "Pause", id="pause",
                tooltip="Pause or resume sending (the schedule's clock keeps running)"),
        Binding("e", "scaling('enable')", "Scaling on", id="scaling-enable",
                tooltip="Enable the target-tracking policy (asks first, says what changes)"),
        Binding("d", "scaling('disable')", "Scaling off", id="scaling-disable",
                tooltip="Suspend (or delete) the scaling policy (asks first)"),
        Binding("k", "kill", "Kill", id="kill",
                tooltip="Stop all traffic at once, cancelling requests in flight (asks first)"),
        Binding("m", "marker", "Mark", id="marker",
                tooltip="Add a marker with a note to the recording"),
    ]

    def __init__(self, run: LiveRun, niceness: int = UI_NICENESS) -> None:
        """``niceness``: how far the monitor steps back from the workers (0: not at all)."""
        super().__init__()
        self.live = run
        self.niceness = niceness
        peak = max((max(p.rate_start, p.rate_end) for p in run.session.profile.phases
                    if not p.pause), default=10.0)
        self.small_step, self.large_step = rate_steps(peak)

    @property
    def driven_by(self) -> str | None:
        """What sets the rate instead of the operator (``"the capacity search"``), as the
        session's header records it: the rate, pause and scaling keys are then not offered."""
        return self.live.session.meta.get("steered_by")

    def on_mount(self) -> None:
        super().on_mount()
        for note in self.live.prepared.notes:
            self.event_log.add_note(note)
        self.live.start(self.on_record,
                       lambda result: self.post_message(SessionFinished(result)))

    def on_record(self, record: Record) -> None:
        super().on_record(record)
        if isinstance(record, Header):  # load starts now: the keys that steer it wake up
            self.refresh_bindings()
            if self.niceness:  # the workers are running: from now on, they come first
                yield_cpu_to_workers(self.niceness)

    # --- what the base screen asks ---------------------------------------------------------

    def now(self) -> float:
        session = self.live.session
        if self.live.running and session.started:
            return session.elapsed()
        return self.timeline.elapsed

    def status(self) -> Status:
        session = self.live.session
        ended = self.live.task is not None and self.live.task.done()
        if ended:
            mode, style = (session.reason or "ended").upper(), "reverse bold"
        elif session.reason is not None:
            mode, style = "STOPPING", "reverse bold red"
        elif not session.started:
            mode, style = "STARTING", "reverse bold"
        elif session.control.paused:
            mode, style = "PAUSED", "reverse bold yellow"
        else:
            mode, style = "LIVE", "reverse bold green"
        concurrency = session.profile.load.mode == "concurrency"
        if session.started and session.control.mode != "schedule" and self.live.running \
                and not self.driven_by:  # a steered run's rate is in the header already
            mode += f" · manual {target_text(session.unpaused_rps_now(), concurrency)}"
        scaling = self.live.prepared.scaling
        label = self.scaling_text() or (scaling.state.label() if scaling is not None else None)
        record = session.record_path
        return Status(mode, style, self.now(), self.window[1], label,
                      f"recording → {record}" if record else "not recording", ended)

    def help_notes(self) -> list[str]:
        if self.driven_by:
            return [f"{self.driven_by[0].upper()}{self.driven_by[1:]} sets the rate and keeps "
                    "scaling suspended: the rate, pause and scaling keys are off. Kill, marker "
                    "and quit work as usual."]
        return [f"Rate steps for this profile: small {self.small_step:g} req/s, large "
                f"{self.large_step:g} req/s (from the profile's peak rate)."]

    # --- keys ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.driven_by and action in STEERING_ACTIONS:
            return False  # not offered at all: the run steers itself
        if action in LOAD_ACTIONS and not (self.live.running and self.live.session.started):
            return None  # shown dimmed: the test is not running
        return True

    def action_nudge(self, steps: int) -> None:
        session = self.live.session
        step = self.small_step if abs(steps) == 1 else self.large_step
        # Land on a round rate (a tenth of a step) rather than 150.694 req/s mid-ramp.
        grain = step / 10
        now = session.unpaused_rps_now()
        wanted = max(0.0, round((now + math.copysign(step, steps)) / grain) * grain)
        session.nudge(wanted - now)

    def action_follow_schedule(self) -> None:
        self.live.session.follow_schedule()

    def action_toggle_pause(self) -> None:
        session = self.live.session
        session.resume() if session.control.paused else session.pause()

    def action_kill(self) -> None:
        def answer(kill: bool | None) -> None:
            if kill:
                self.live.session.kill()

        self.app.push_screen(ConfirmScreen(
            "Kill the test?", "All traffic stops at once; requests in flight are cancelled. "
            "The recording is finished and the monitor stays open.", yes="Kill"), answer)

    def action_marker(self) -> None:
        at = self.live.session.elapsed()

        def answer(text: str | None) -> None:
            if text is not None:
                self.live.session.mark(text, at=at)

        self.app.push_screen(MarkerScreen(clock(at)), answer)

    def action_scaling(self, action: str) -> None:
        scaling = self.live.prepared.scaling
        if scaling is None:
            self.notify("This target has no scaling policy to change (a plain HTTP target).",
                        severity="warning")
            return

        def answer(go: bool | None) -> None:
            if go:
                self.run_worker(getattr(scaling, action)(), name=f"scaling {action}",
                                group="scaling", exit_on_error=False)

        verb = "Enable" if action == "enable" else "Suspend"
        self.app.push_screen(ConfirmScreen(f"{verb} scaling?", scaling.describe_change(action),
                                           yes=verb), answer)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "scaling" and event.state == WorkerState.SUCCESS:
            self.notify(str(event.worker.result), title="scaling")

    def on_session_finished(self, message: SessionFinished) -> None:
        self.refresh_bindings()
        result = message.result
        if result is not None and result.error:
            self.notify(result.error, title="the session failed", severity="error", timeout=30)
        if result is not None:
            self.notify(f"Session {result.reason}; exit code {result.exit_code}. "
                        "Press q to quit.", timeout=10)

    def action_request_quit(self) -> None:
        scaling = self.live.prepared.scaling
        note = None
        if scaling is not None and scaling.changed:
            keep = "kept (--keep-scaling)" if self.live.options.keep_scaling else "restored"
            note = (f"was changed during this run; by default it is {keep}. "
                    f"{scaling.describe_change('restore')}")
        if note is None and not self.live.running:
            self._quit(QUIT)  # the session is over and nothing needs deciding: just go
            return
        self.app.push_screen(QuitScreen(self.live.running, note,
                                        default=KEEP if self.live.options.keep_scaling
                                        else RESTORE),
                             self._quit)

    def _quit(self, answer: str | None) -> None:
        if answer is None:
            return
        self.run_worker(self._stop_and_exit(answer), name="quit", group="quit",
                        exit_on_error=False)

    async def _stop_and_exit(self, answer: str) -> None:
        scaling = self.live.prepared.scaling
        if scaling is not None and answer in (KEEP, RESTORE, KEEP_INSTANCES):
            # The operator's answer wins over --keep-scaling; the session's clean-up obeys it.
            scaling.keep_at_exit = answer == KEEP
            scaling.keep_instances = answer == KEEP_INSTANCES
        if self.live.running:
            self.notify("Stopping load and finishing the recording…")
        await self.live.finish("interrupted")
        if answer in (RESTORE, KEEP_INSTANCES) and scaling is not None and scaling.changed:
            # The session ended before the answer, and its clean-up kept the change.
            await scaling.restore()
        self.app.exit(self.live.exit_code)

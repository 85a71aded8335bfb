"""The monitor: a Textual app showing one session, live (``run_monitor``) or replayed
(``replay_monitor``). The screens in ``tui/screens`` do the work; this module starts and ends.

Exit codes are the headless ones: 0 ensure held, 1 ensure failed, 2 setup or usage error,
130 the operator quit while load was still running (load stopped, recording finished).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import ClassVar

import yaml
from textual.app import App
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.screen import Screen

from driver.profile import Profile
from driver.session import EXIT_USAGE, PreparedRun, Replay, RunOptions
from metrics.recording import Recording, RecordingError, read_recording
from metrics.timeline import Timeline
from tui.console import (
    PreflightStop,
    launch_or_exit_code,
    print_result,
    stop_signals,
)
from tui.monitor.screens import LiveRun, LiveScreen, MonitorScreen, ReplayScreen

KEYMAP_ENV = "LOADWATCH_KEYMAP"


class KeymapError(Exception):
    """A keymap file that cannot be used; the message is one line."""


class MonitorApp(App[int]):
    """Hosts one monitor screen (live or replay) and the dialogs over it."""

    CSS_PATH = "app.tcss"
    TITLE = "loadwatch"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        # Ctrl+Q and Ctrl+C both ask first: a reflex must not end a test or skip the restore.
        Binding("ctrl+q,ctrl+c", "request_quit", "Quit", show=False, priority=True,
                id="quit-now"),
    ]

    def __init__(self, main: MonitorScreen, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.main = main
        self.initial_keymap = keymap or {}

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        if driver.__name__ == "LinuxDriver":  # a hung-up terminal must not freeze the app
            from tui.monitor.terminal import MonitorDriver

            return MonitorDriver
        return driver

    def get_default_screen(self) -> Screen:
        return self.main

    def on_mount(self) -> None:
        if self.initial_keymap:
            self.set_keymap(self.initial_keymap)

    def action_request_quit(self) -> None:
        self.main.action_request_quit()


def binding_ids() -> set[str]:
    """Every binding id a keymap may name."""
    from tui.monitor.screens import ConfirmScreen, HelpScreen, MarkerScreen, QuitScreen

    ids = set()
    for cls in (MonitorApp, MonitorScreen, LiveScreen, ReplayScreen, HelpScreen,
                ConfirmScreen, QuitScreen, MarkerScreen):
        ids |= {b.id for b in cls.BINDINGS if isinstance(b, Binding) and b.id}
    return ids


def keymap_path() -> Path:
    if os.environ.get(KEYMAP_ENV):
        return Path(os.environ[KEYMAP_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "loadwatch" / "keymap.yml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """Binding id -> keys ("up,k") from a YAML file; no file means no changes."""
    path = path or keymap_path()
    if not path.exists():
        if os.environ.get(KEYMAP_ENV):
            raise KeymapError(f"{path}: keymap file not found ({KEYMAP_ENV} names it)")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise KeymapError(f"{path}: cannot read keymap: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise KeymapError(f"{path}: expected a mapping of binding id to keys, e.g. 'kill: x'")
    known = binding_ids()
    keymap = {}
    for binding_id, keys in data.items():
        if binding_id not in known:
            raise KeymapError(f"{path}: unknown binding id {binding_id!r}; known ids: "
                              f"{', '.join(sorted(known))}")
        if not isinstance(keys, str) or not keys.strip():
            raise KeymapError(f"{path}: {binding_id}: expected keys as text, e.g. \"up,k\"")
        keymap[binding_id] = ",".join(k.strip() for k in keys.split(","))
    return keymap


async def monitor_session(prepared: PreparedRun, options: RunOptions,
                          keymap: dict[str, str] | None = None) -> int:
    """Show a prepared session until the operator quits; the load is stopped on every path."""
    live = LiveRun(prepared, options)
    app = MonitorApp(LiveScreen(live), keymap)

    def stop(_name: str) -> None:
        # SIGTERM, SIGHUP (the terminal closed), or a SIGINT from outside: no dialog to ask.
        if live.session.started:
            live.session.kill("interrupted")
        app.exit()

    try:
        with stop_signals(stop):
            await app.run_async()
    finally:
        result = await live.finish("interrupted")
    if result is not None:
        print_result(result, "quit while running: load stopped, recording finished",
                     live.session.profile.sanitized, live.session.scaling_outcome)
    return live.exit_code


async def _monitor_main(profile: Profile, options: RunOptions,
                        keymap: dict[str, str]) -> int:
    preflight = PreflightStop()
    with stop_signals(preflight):
        prepared = await launch_or_exit_code(profile, options, preflight)
        if isinstance(prepared, int):
            return prepared
        try:
            return await monitor_session(prepared, options, keymap)
        finally:
            await prepared.close()


def run_monitor(profile: Profile, options: RunOptions) -> int:
    """The live monitor on a profile: records to ``options.record`` (if set) and says where."""
    try:
        keymap = load_keymap()
    except KeymapError as exc:
        print(f"loadwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_monitor_main(profile, options, keymap))


def rehearse_replay(recording: Recording) -> None:
    """Feed the whole recording to the state the panels read, before the app starts: a value
    no reader copes with then fails here, as one line (``tui.commands.cli``), not inside the app."""
    timeline = Timeline()
    replay = Replay.from_recording(recording, timeline.add, lambda: None)
    replay.to_end()
    replay.advance()
    timeline.totals()


def replay_monitor(path: Path, *, speed: float = 1.0, start: float | None = 0.0,
                   paused: bool = False) -> int:
    """The monitor on a recording; 2 if it cannot be read (one line says why)."""
    try:
        keymap = load_keymap()
        recording = read_recording(path)
    except (KeymapError, RecordingError) as exc:
        print(f"loadwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rehearse_replay(recording)
    screen = ReplayScreen(recording, speed=speed, start=start, paused=paused)
    app = MonitorApp(screen, keymap)
    value = app.run()
    # A crash inside the app leaves return_code 1 and no value: it must not read as success.
    return app.return_code or value or 0

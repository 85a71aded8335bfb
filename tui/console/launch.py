"""The one way the headless mode and the monitor get a ``PreparedRun``.

If the profile names no target (or ``--sandbox`` was given), the built-in sandbox is started
as a child process first and the AWS options are pointed at it: its URL, its fixed
credentials, its region and endpoint. The rest is ``driver.session.setup.prepare_run``, exactly as
for real AWS. ``PreparedRun.close()`` stops the sandbox. This lives in ``tui/`` because
``driver/`` may not import ``sandbox/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from driver.profile import Profile, ProfileError
from driver.session import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PreparedRun,
    RunOptions,
    SetupError,
    prepare_run,
)

if TYPE_CHECKING:
    from twin.model import Twin

# Each stops a run the same way: load stopped, scaling restored, the recording finished.
# SIGHUP is the terminal closing (an SSH session dropped, a window shut).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_stop_callbacks: list[Callable[[str], None]] = []


@contextlib.contextmanager
def stop_signals(callback: Callable[[str], None]) -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP call ``callback(signal name)``.

    Nested uses stack: the innermost callback is called, and leaving it gives the signals
    back to the one outside. Leaving the outermost means the command's work is done and its
    exit code decided (a run's footer already holds it): until the process ends, one stop
    signal changes nothing, a second ends the process at once with 130 (``_after_the_run``).
    ``signals_given_back`` undoes that for a caller that goes on (a test calling ``main``).
    """
    loop = asyncio.get_running_loop()
    _stop_callbacks.append(callback)
    if len(_stop_callbacks) == 1:
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, _on_stop_signal, signum.name)
    try:
        yield
    finally:
        _stop_callbacks.remove(callback)
        if not _stop_callbacks:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)
                # Not the default action: a SIGTERM while the loop shuts down or the
                # interpreter exits would kill the process with -15 while the recording
                # says 0 (seen in CI: the signal sent on "scaling restored" came late).
                signal.signal(signum, _after_the_run)


def _on_stop_signal(name: str) -> None:
    if name == "SIGHUP":
        _leave_dead_terminal()
    if _stop_callbacks:
        _stop_callbacks[-1](name)


_late_signals: list[int] = []


def _after_the_run(signum: int, _frame: object) -> None:
    if signum == signal.SIGHUP:
        _leave_dead_terminal()
    _late_signals.append(signum)
    if len(_late_signals) > 1:  # asked twice: the exit itself is stuck, or they mean it
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def signals_given_back() -> Iterator[None]:
    """Inside, ``stop_signals`` may leave its after-the-run handlers; leaving gives SIGINT,
    SIGTERM and SIGHUP back as they were on entry."""
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        _late_signals.clear()


def _leave_dead_terminal() -> None:
    """After a hang-up, writes to the terminal fail (EIO): send them nowhere instead, so
    finishing the recording and restoring scaling cannot trip over a status line."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        with contextlib.suppress(Exception):
            if stream.isatty():
                setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115


class PreflightStop:
    """The stop-signal callback around a whole run: before load starts it cancels the task
    (nothing sent, nothing changed: only ``finally`` blocks to run); once ``disarm``ed (the
    session took over the signals, or has ended) it does nothing."""

    def __init__(self) -> None:
        self.task = asyncio.current_task()
        self.armed = True

    def __call__(self, _name: str) -> None:
        if self.armed and self.task is not None:
            self.task.cancel()

    def disarm(self) -> None:
        self.armed = False


def uses_sandbox(profile: Profile, options: RunOptions) -> bool:
    return options.sandbox or profile.uses_sandbox


async def launch_or_explain(profile: Profile, options: RunOptions) -> PreparedRun | None:
    """``launch``, or None once one line on stderr has said why the run cannot start."""
    try:
        prepared = await launch(profile, options)
    except (SetupError, ProfileError) as exc:
        print(f"loadwatch: {exc}", file=sys.stderr)
        return None
    if options.pool is not None:  # --ray: the workers run where the pool puts them
        prepared.session.pool = options.pool
    return prepared


async def launch_or_exit_code(profile: Profile, options: RunOptions,
                              preflight: PreflightStop) -> PreparedRun | int:
    """``launch_or_explain`` under a ``PreflightStop``: the prepared run (and the stop signals
    handed on to the session), or the exit code: 2 cannot start, 130 a stop signal came first."""
    if uses_sandbox(profile, options):
        # Also the mark that pre-flight has begun (the fault-injection tests wait for it).
        print("loadwatch: starting the sandbox…", file=sys.stderr, flush=True)
    try:
        prepared = await launch_or_explain(profile, options)
    except asyncio.CancelledError:
        print("loadwatch: interrupted before any load was sent", file=sys.stderr)
        return EXIT_INTERRUPTED
    if prepared is None:
        return EXIT_USAGE
    preflight.disarm()
    return prepared


async def launch(profile: Profile, options: RunOptions) -> PreparedRun:
    """Start the sandbox if the run needs one, then prepare the run; SetupError if either fails.

    The sandbox starts in a thread (it takes a second or two to train its model) so a UI
    calling this keeps drawing.
    """
    if not uses_sandbox(profile, options):
        return await prepare_run(profile, options)

    from driver.aws import FrozenCredentials
    from sandbox.cli import COMPONENT_INSTANCE, LLM_INSTANCE
    from sandbox.config import (
        FAST,
        REALISTIC,
        SandboxConfig,
        profile_named,
        with_scaled_component,
    )
    from sandbox.process import SandboxProcess, SandboxStartError

    sagemaker = profile.sagemaker
    caveat = None
    try:
        if profile.sandbox is not None:  # the profile's twin: its instance and its clock
            twin = _load_twin(profile)
            config = twin.sandbox_config(initial_instances=options.sandbox_instances)
            caveat = twin.live_caveat
        else:
            config = SandboxConfig(timings=REALISTIC if options.realistic else FAST,
                                   initial_instances=options.sandbox_instances)
        if options.sandbox_period:
            timings = config.timings
            config = config.replace(timings=dataclasses.replace(
                timings, period_s=options.sandbox_period,
                publication_delay_s=min(timings.publication_delay_s,
                                        options.sandbox_period / 2)))
            # Asked for on the command line, the sandbox's period is the one to poll at.
            profile = dataclasses.replace(profile, metrics=dataclasses.replace(
                profile.metrics, period=max(1, round(options.sandbox_period)),
                poll_interval=None))
        # An LLM profile needs an instance that streams: the sandbox's GPU instance by default.
        component = sagemaker.inference_component if sagemaker is not None else None
        instance = options.sandbox_instance or (
            COMPONENT_INSTANCE if component else LLM_INSTANCE if profile.llm else None)
        if instance:
            config = config.replace(profile=profile_named(instance))
        if component:
            scaling = profile.scaling
            config = with_scaled_component(
                config, component, min_copies=scaling.min if scaling else 1,
                max_copies=scaling.max if scaling else 1, load_s=60.0 if options.realistic else 5.0)
    except ValueError as exc:
        raise SetupError(f"sandbox: {exc}") from exc
    if sagemaker is not None and sagemaker.endpoint:
        config = config.replace(endpoint_name=sagemaker.endpoint)
    if sagemaker is not None:
        config = config.replace(variant=sagemaker.variant)
    sandbox = SandboxProcess(config)
    try:
        await asyncio.to_thread(sandbox.start)
    except (SandboxStartError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SetupError(f"the sandbox did not start: {first}") from exc
    aimed = dataclasses.replace(
        options, sandbox=True, endpoint_url=sandbox.endpoint_url, region=sandbox.region,
        aws_profile=None, endpoint=sandbox.endpoint_name, variant=sandbox.variant,
        aws_credentials=FrozenCredentials(sandbox.credentials.access_key_id,
                                          sandbox.credentials.secret_access_key),
        metrics_period=int(config.timings.period_s))
    try:
        prepared = await prepare_run(profile, aimed)
    except BaseException:
        await asyncio.to_thread(sandbox.stop)
        raise
    prepared._closers.append(lambda: asyncio.to_thread(sandbox.stop))
    timings = config.timings
    if profile.sandbox is not None:
        prepared.notes.insert(0, f"sandbox: serving like the twin {profile.sandbox.twin}"
                                 + (f"; {caveat}" if caveat else ""))
    prepared.notes.insert(0, (
        f"sandbox: {sandbox.endpoint_url} (pid {sandbox.pid}), {config.initial_instances} x "
        f"{config.profile.instance_type} at about {config.profile.capacity_rps:.0f} req/s each; "
        f"{timings.period_s:g} s metric periods, new instances serve after "
        f"{timings.provisioning_delay_s:g} s"))
    return prepared


def _load_twin(profile: Profile) -> Twin:
    """The profile's ``sandbox.twin``, whose instance and timings the sandbox takes;
    SetupError naming the profile's line and the twin file's field when it is not a twin."""
    from twin.model import TwinError, load_twin

    assert profile.sandbox is not None
    try:
        twin = load_twin(profile.sandbox.twin)
    except TwinError as exc:
        where = str(profile.path or "<profile>")
        if profile.sandbox.twin_line is not None:
            where += f":{profile.sandbox.twin_line}"
        raise SetupError(f"{where}: sandbox.twin: {exc}") from exc
    return twin

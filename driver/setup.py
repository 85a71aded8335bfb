"""From a profile and command-line options to a ready ``Session``: the one place both the
headless mode and the monitor build a run.

It resolves the target (HTTP URL, SageMaker endpoint, or the built-in sandbox), runs the
pre-flight checks that must pass before any load is sent, and attaches the producers and
clean-ups a target needs. Everything it starts is stopped by ``PreparedRun.close``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from driver.profile import Profile
from driver.runner import Session


class SetupError(Exception):
    """A run that cannot start; the message is one line naming the cause (and AWS code)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code = code
        super().__init__(f"{message} ({code})" if code else message)


@dataclass
class RunOptions:
    workers: int | None = None
    record: Path | None = None
    seed: int = 0
    aws_profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    sandbox: bool = False  # force the sandbox even if the profile names a target
    realistic: bool = False  # sandbox with AWS's timings
    keep_scaling: bool = False  # leave scaling changes in place at exit


@dataclass
class PreparedRun:
    session: Session
    target_label: str
    notes: list[str] = field(default_factory=list)  # lines to show before load starts
    _closers: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop whatever the run started (a sandbox, say); safe to call twice."""
        while self._closers:
            closer = self._closers.pop()
            with contextlib.suppress(Exception):
                result = closer()
                if result is not None:
                    await result


def default_recording_path(profile: Profile, directory: str | Path = "recordings") -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = profile.path.stem if profile.path else "session"
    return Path(directory) / f"{stamp}-{name}.jsonl"


async def prepare_run(profile: Profile, options: RunOptions) -> PreparedRun:
    """Resolve the target and build the session; raises SetupError before any load is sent."""
    profile.check_runnable()
    if profile.target is not None and not options.sandbox:
        session = Session(profile, {"kind": "http"}, target_label=profile.target,
                          workers=options.workers, record=options.record, seed=options.seed)
        return PreparedRun(session, profile.target)
    return await _prepare_sagemaker(profile, options)


async def _prepare_sagemaker(profile: Profile, options: RunOptions) -> PreparedRun:
    raise SetupError("SageMaker endpoints and the sandbox are not wired into runs yet")


def describe_target(spec: dict[str, Any]) -> str:
    return spec.get("label") or spec.get("kind", "http")

"""Real `loadwatch run` processes against real sandboxes, watched line by line and checked after.

Every process started here carries a unique token in its environment, which its workers and
its own sandbox inherit, so "no process left behind" is checked by looking for the token in
/proc, whoever the processes' parents became.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from metrics.endpoint import ScalingConfig, read_scaling_config
from sandbox.config import InstanceProfile, SandboxConfig, Timings
from sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parents[2]
TOKEN_VARIABLE = "LOADWATCH_FAULT_TOKEN"
QUICK = Timings(period_s=1, publication_delay_s=0.5, provisioning_delay_s=1,
                deprovisioning_delay_s=1, default_cooldown_s=1)
# Slow answers (2.5 s) so that requests are still in flight after the schedule ends (the
# drain), and many workers so that 20 req/s never queue.
SLOW = InstanceProfile("ml.c5.large", vcpus=2, memory_gib=4.0, workers=96,
                       service_time_ms=2500.0, jitter_ms=1.0, queue_bound=64,
                       container_timeout_s=20.0)


def sandbox_config() -> SandboxConfig:
    return SandboxConfig(timings=QUICK, profile=SLOW)


def profile_text(seconds: float, endpoint: str | None = "loadwatch-sandbox",
                 rate: float = 20) -> str:
    """20 req/s against a target of 600 a minute per instance: scaling adds a second one."""
    aim = f"sagemaker:\n  endpoint: {endpoint}\n" if endpoint else ""
    return (f"config:\n  phases:\n    - {{duration: {seconds}, arrivalRate: {rate}, "
            "name: steady}\n"
            f"{aim}"
            "scaling: {min: 1, max: 2, target: 600, scaleOutCooldown: 1, scaleInCooldown: 60, "
            "enabled: true}\n"
            "metrics: {period: 1, pollInterval: 1, endpointInterval: 1}\n"
            "scenarios:\n  - flow:\n      - post:\n          body: \"5,3.5,1.3,0.3\"\n"
            "          headers: {content-type: text/csv}\n")


def clients(sandbox: SandboxProcess, service: str):  # type: ignore[no-untyped-def]
    return boto3.client(service, region_name=sandbox.region, endpoint_url=sandbox.endpoint_url,
                        aws_access_key_id=sandbox.credentials.access_key_id,
                        aws_secret_access_key=sandbox.credentials.secret_access_key)


@dataclass(frozen=True)
class Endpoint:
    scaling: ScalingConfig
    instances: int
    status: str


def endpoint_now(sandbox: SandboxProcess) -> Endpoint:
    config = read_scaling_config(clients(sandbox, "application-autoscaling"),
                                 sandbox.endpoint_name, sandbox.variant)
    described = clients(sandbox, "sagemaker").describe_endpoint(
        EndpointName=sandbox.endpoint_name)
    variant = described["ProductionVariants"][0]
    return Endpoint(config, variant["DesiredInstanceCount"], described["EndpointStatus"])


async def settled(sandbox: SandboxProcess, timeout: float = 30.0) -> Endpoint:
    """The endpoint once it is InService (a restore may have left it draining an instance)."""
    deadline = time.monotonic() + timeout
    while True:
        now = await asyncio.to_thread(endpoint_now, sandbox)
        if now.status == "InService" or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.2)


def cli_env(sandbox: SandboxProcess | None, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if sandbox is not None:
        env.update(sandbox.env())
    env["PYTHONPATH"] = str(ROOT)
    env[TOKEN_VARIABLE] = token
    return env


@dataclass
class Run:
    """One CLI process: its output so far, and a way to wait for a line."""

    process: asyncio.subprocess.Process
    token: str
    recording: Path
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    def start_reading(self) -> None:
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            self._readers.append(asyncio.create_task(self._read(stream, lines)))

    async def _read(self, stream: asyncio.StreamReader | None, lines: list[str]) -> None:
        assert stream is not None
        while raw := await stream.readline():
            lines.append(raw.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    async def wait_for(self, matches: Callable[[str], bool], timeout: float = 60) -> str:
        """The first line (stdout or stderr) that ``matches``; fails if the run ends first."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.out + self.err:
                if matches(line):
                    return line
            if all(r.done() for r in self._readers):
                raise AssertionError("the run ended first:\n" + "".join(self.out + self.err))
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no such line in time:\n" + "".join(self.out + self.err))
            await asyncio.wait_for(self._changed.wait(), left)

    async def finish(self, timeout: float = 90) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.gather(*self._readers)
        return code

    @property
    def output(self) -> str:
        return "".join(self.out) + "".join(self.err)


async def start_run(profile: Path, recording: Path, sandbox: SandboxProcess | None,
                    *extra: str) -> Run:
    token = uuid.uuid4().hex
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui", "run", "--headless", "--interval", "1", "--record",
        str(recording), *extra, str(profile), cwd=ROOT, env=cli_env(sandbox, token),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    run = Run(process, token, recording)
    run.start_reading()
    return run


def processes_with(token: str) -> list[int]:
    """Pids of live processes whose environment holds ``token`` (zombies excluded)."""
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


async def left_behind(token: str, grace: float = 5.0) -> list[int]:
    """Processes of the run still alive ``grace`` seconds after it ended (dying ones get time)."""
    deadline = time.monotonic() + grace
    while (pids := processes_with(token)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return pids


STATUS_AT = re.compile(r"^\s+(\d+):(\d\d)\s")


def line_at_or_after(seconds: int) -> Callable[[str], bool]:
    """Matches a status or event line stamped ``seconds`` or later."""

    def matches(line: str) -> bool:
        found = STATUS_AT.match(line)
        return bool(found) and int(found.group(1)) * 60 + int(found.group(2)) >= seconds
    return matches

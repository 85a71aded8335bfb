"""Run a sandbox in a child process, for the tool to embed: start, wait until ready, stop.

The child is ``python -m sandbox --port 0`` on 127.0.0.1. Readiness needs no sleeping: the
child writes one JSON line with its port once it listens, and ``start`` reads it (or the
child's death, with the tail of its log). No process is left behind:

- ``stop()`` (also on ``with`` exit and at interpreter exit) closes the child's stdin, which
  it treats as "stop", then escalates to SIGTERM and SIGKILL if it does not go;
- if the parent dies without stopping it (SIGKILL, a crash), the kernel closes the pipe and
  the child sees end of file; it also polls its parent pid every second, in case the pipe's
  write end leaked into another child (``fork`` without ``exec``, as multiprocessing does);
- on Linux, when started from the main thread, the child also asks for PR_SET_PDEATHSIG.
  The kernel sends that when the *thread* that forked exits, so it is not asked for when the
  sandbox is started from another thread (a TUI worker thread, say).

The child runs in its own session, so a Ctrl-C in the terminal reaches only the parent, which
can then stop the sandbox when it is ready to (after a last poll of the metrics, say).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sandbox.config import SandboxConfig, SandboxHandle, config_to_json

ROOT = Path(__file__).resolve().parent.parent


class SandboxStartError(RuntimeError):
    """The child did not come up; the message carries the end of its log."""


class SandboxProcess(SandboxHandle):
    """A sandbox in a child process on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, config: SandboxConfig | None = None, *, start_timeout: float = 60.0,
                 python: str = sys.executable, log_level: str = "WARNING") -> None:
        self.config = config or SandboxConfig()
        self.start_timeout = start_timeout
        self.python = python
        self.log_level = log_level
        self.endpoint_url = ""
        self.port = 0
        self.log_path: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> SandboxProcess:
        if self._process is not None:
            return self
        command = [self.python, "-m", "sandbox", "--host", "127.0.0.1", "--port", "0",
                   "--config-json", config_to_json(self.config), "--ready-json",
                   "--exit-with-stdin", "--parent-pid", str(os.getpid()),
                   "--log-level", self.log_level]
        if threading.current_thread() is threading.main_thread():
            command.append("--pdeathsig")
        env = dict(os.environ)
        # Run from any working directory: the child must import this very package.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        with tempfile.NamedTemporaryFile(prefix="loadwatch-sandbox-", suffix=".log",
                                         delete=False) as log:
            self.log_path = log.name
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True, env=env, close_fds=True)
        atexit.register(self.stop)
        try:
            ready = self._read_ready_line()
        except BaseException:
            self.stop()
            raise
        self.endpoint_url = ready["url"]
        self.port = int(ready["port"])
        return self

    def _read_ready_line(self) -> dict[str, object]:
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        stdout = self._process.stdout
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxStartError(
                    f"the sandbox did not start within {self.start_timeout:g} s"
                    f"{self._log_tail()}")
            readable, _, _ = select.select([stdout], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                code = self._process.wait()
                raise SandboxStartError(
                    f"the sandbox exited with status {code} before it was ready"
                    f"{self._log_tail()}")
            buffer += chunk
        line = buffer.split(b"\n", 1)[0]
        try:
            ready = json.loads(line)
        except ValueError:
            raise SandboxStartError(f"unexpected output from the sandbox: {line[:200]!r}"
                                    f"{self._log_tail()}") from None
        if not isinstance(ready, dict) or not ready.get("ready"):
            raise SandboxStartError(f"unexpected output from the sandbox: {line[:200]!r}")
        return ready

    def _log_tail(self, lines: int = 20) -> str:
        if not self.log_path:
            return ""
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"; its log ({self.log_path}) ends:\n{tail}" if tail else ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the child and wait for it; returns its exit status (None if never started)."""
        process = self._process
        if process is None:
            return None
        atexit.unregister(self.stop)
        if process.poll() is None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # the polite way: the child stops at end of file
        for escalate in (None, signal.SIGTERM, signal.SIGKILL):
            if escalate is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(escalate)
            try:
                process.wait(timeout=timeout / 2 if escalate is None else timeout / 4)
                break
            except subprocess.TimeoutExpired:
                continue
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._process = None
        self.endpoint_url = ""
        if self.log_path and process.returncode == 0:
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)
            self.log_path = None
        return process.returncode

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

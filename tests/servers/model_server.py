"""Start nginx -> gunicorn -> Flask (scikit-learn) on 127.0.0.1, as users deploy model servers.

``with model_server() as url:`` gives ``http://127.0.0.1:PORT`` (nginx), proxying over a Unix
socket to gunicorn with ``workers`` sync workers running ``tests.servers.model_app``. nginx's
``keepalive_timeout`` is short on purpose (5 s, like many deployments): idle client connections
get closed under the client's feet. Set ``access_log=True`` to keep nginx's log (with
``$request_time``) for checking client figures against the server's own.

Needs Debian's ``nginx-light`` (or nginx) and gunicorn + Flask from PyPI (the ``test`` extra).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def available() -> bool:
    """True when nginx and gunicorn can be started here."""
    try:
        import flask  # noqa: F401
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return nginx_binary() is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout:g} s")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _ping(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class ModelServer:
    url: str
    work: Path
    gunicorn_pid: int
    nginx_pid: int

    @property
    def access_log(self) -> Path:
        return self.work / "access.log"

    def request_times_ms(self) -> list[float]:
        """nginx's ``$request_time`` (ms resolution) for each logged request, in order."""
        if not self.access_log.exists():
            return []
        out = []
        for line in self.access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out.append(float(parts[1]) * 1000.0)
        return out

    def statuses(self) -> list[int]:
        if not self.access_log.exists():
            return []
        return [int(line.split()[0]) for line in self.access_log.read_text().splitlines()
                if line.split()]


@contextmanager
def model_server(workers: int = 2, *, keepalive_timeout_s: float = 5.0, access_log: bool = False,
                 pin: str | None = None) -> Iterator[ModelServer]:
    """nginx on a free loopback port in front of gunicorn (``workers`` sync workers).

    ``pin`` (e.g. ``"1"``) runs both under ``taskset -c`` so a benchmark can give the target
    its own core.
    """
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed: apt-get install -y nginx-light")
    work = Path(tempfile.mkdtemp(prefix="lw-model-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user when started as root
    sock = work / "gunicorn.sock"
    port = _free_port()
    prefix = ["taskset", "-c", pin] if pin and shutil.which("taskset") else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    gunicorn_log = (work / "gunicorn.log").open("wb")  # closed with the work dir below
    gunicorn = subprocess.Popen(
        [*prefix, sys.executable, "-m", "gunicorn", "--workers", str(workers),
         "--worker-class", "sync", "--bind", f"unix:{sock}", "--log-level", "warning",
         "--timeout", "60", "--graceful-timeout", "2", "--preload", "tests.servers.model_app:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=gunicorn_log,
        start_new_session=True)
    log = (f"access_log {work}/access.log timing;" if access_log else "access_log off;")
    (work / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format timing '$status $request_time $upstream_response_time';
    {log}
    keepalive_timeout {keepalive_timeout_s:g}s;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    upstream model {{ server unix:{sock}; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://model;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
""")
    nginx_process = None
    try:
        _wait(sock.exists, "gunicorn")
        nginx_process = subprocess.Popen(
            [*prefix, nginx, "-p", str(work), "-c", str(work / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait(lambda: _port_open(port), "nginx")
        _wait(lambda: _ping(port), "the model behind nginx")
        yield ModelServer(f"http://127.0.0.1:{port}", work, gunicorn.pid, nginx_process.pid)
    finally:
        for process in (nginx_process, gunicorn):
            if process is None:
                continue
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        gunicorn_log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    # Run it by hand: python -m tests.servers.model_server [workers]
    with model_server(int(sys.argv[1]) if len(sys.argv) > 1 else 2, access_log=True) as srv:
        print(srv.url, srv.work, flush=True)
        with suppress(KeyboardInterrupt):
            signal.pause()

"""--summary-json of real runs, read back with the schema, and the client-bound verdict.

One sandbox run (the summary a CI job reads) and two runs against a static nginx: one worker
asked for far more than it can send (flagged as limited by the load generator) and a light run
(not flagged). nginx answers in microseconds, so what limits the flood is the client.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from driver.export import SUMMARY_SCHEMA, SUMMARY_VERSION
from sandbox.config import SandboxConfig, Timings, profile_named
from sandbox.process import SandboxProcess
from tests.servers.model_server import nginx_binary

ROOT = Path(__file__).resolve().parents[3]
QUICK = Timings(period_s=1, publication_delay_s=0.5, provisioning_delay_s=2,
                deprovisioning_delay_s=1, default_cooldown_s=1)

SANDBOX_PROFILE = """
config:
  phases:
    - {name: warm, duration: 2, arrivalRate: 20}
    - {name: hold, duration: 2, arrivalRate: 40}
  ensure: {maxErrorRate: 50, p99: 2000, clientLimited: false}
sagemaker: {endpoint: loadwatch-sandbox}
metrics: {period: 1, pollInterval: 1, endpointInterval: 1}
scenarios:
  - flow:
      - post: {body: "5,3.5,1.3,0.3", headers: {content-type: text/csv}}
"""


def _loadwatch(args: list[str], env: dict[str, str] | None = None,
               timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_summary_of_a_sandbox_run_reads_back_with_the_schema(tmp_path: Path) -> None:
    profile = tmp_path / "p.yml"
    profile.write_text(SANDBOX_PROFILE)
    out = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with SandboxProcess(SandboxConfig(timings=QUICK, profile=profile_named("small"))) as box:
        env.update(box.env())
        result = _loadwatch(["run", str(profile), "--headless", "--interval", "60",
                             "--record", str(tmp_path / "r.jsonl"), "--summary-json",
                             str(out)], env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    jsonschema.validate(summary, SUMMARY_SCHEMA)
    assert summary["version"] == SUMMARY_VERSION and summary["command"] == "run"
    assert summary["exit_code"] == 0 and summary["reason"] == "completed"
    assert [p["name"] for p in summary["phases"]] == ["warm", "hold"]
    assert summary["total"]["requests"] == sum(p["requests"] for p in summary["phases"]) > 0
    assert {c["name"] for c in summary["ensure"]} == {"maxErrorRate", "p99", "clientLimited"}
    assert summary["ensure_passed"] is True
    assert summary["client"]["limited"] is False
    assert summary["recording"] == str(tmp_path / "r.jsonl")
    assert summary["cost"]["prices"]  # the sandbox's instance type has a price row


def test_a_summary_path_in_no_directory_is_refused_before_any_load(tmp_path: Path) -> None:
    result = _loadwatch(["run", "--headless", "--summary-json",
                         str(tmp_path / "missing" / "s.json")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"loadwatch: --summary-json {tmp_path / 'missing' / 's.json'}: no directory "
        f"{tmp_path / 'missing'}"]


@pytest.fixture(scope="module")
def static_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (.ci/run installs nginx-light)")
    root = tmp_path_factory.mktemp("nginx")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp = " ".join(f"{kind}_temp_path {root};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (root / "nginx.conf").write_text(
        f"worker_processes 1; daemon off; pid {root}/nginx.pid; error_log {root}/error.log;\n"
        "events { worker_connections 4096; }\n"
        f"http {{ access_log off; {temp} keepalive_requests 10000000;\n"
        f"  server {{ listen 127.0.0.1:{port}; location / {{ return 200 'ok'; }} }} }}\n")
    process = subprocess.Popen([binary, "-c", str(root / "nginx.conf"), "-p", str(root)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("nginx did not start")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _static_run(tmp_path: Path, url: str, rate: int) -> tuple[int, dict, str]:
    profile = tmp_path / f"r{rate}.yml"
    profile.write_text(f"""
config:
  target: {url}
  phases:
    - {{name: load, duration: 3, arrivalRate: {rate}}}
  ensure: {{clientLimited: false}}
scenarios:
  - flow:
      - post: {{url: /, body: "x"}}
""")
    out = tmp_path / f"r{rate}.json"
    result = _loadwatch(["run", str(profile), "--headless", "--no-record", "--workers", "1",
                         "--interval", "60", "--summary-json", str(out)])
    return result.returncode, json.loads(out.read_text()), result.stdout


def test_one_worker_asked_for_too_much_is_flagged_and_fails_its_ensure(
        tmp_path: Path, static_server: str) -> None:
    code, summary, stdout = _static_run(tmp_path, static_server, 40000)
    client = summary["client"]
    assert client["limited"] is True, client
    assert client["message"].startswith("limited by the load generator: ")
    assert client["message"].endswith("; add workers")
    assert client["message"] in stdout
    assert code == 1 and summary["exit_code"] == 1
    [check] = summary["ensure"]
    assert check["name"] == "clientLimited" and check["ok"] is False
    assert "0" in client["cpu_max"]  # the worker's own CPU, from its ticks


def test_a_light_run_is_not_flagged(tmp_path: Path, static_server: str) -> None:
    code, summary, stdout = _static_run(tmp_path, static_server, 50)
    assert summary["client"]["limited"] is False, summary["client"]
    assert code == 0
    assert "limited by the load generator" not in stdout
